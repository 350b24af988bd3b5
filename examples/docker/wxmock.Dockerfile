# The fake WeChat (cmd/wxmock) as a small image, for compose.yaml. Built with
# the repository root as context (see the root .dockerignore).
FROM golang:1.26 AS build
WORKDIR /src
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -ldflags="-s -w" -o /wxmock ./cmd/wxmock

FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /wxmock /wxmock
EXPOSE 9090
# The secret comes from $WXMOCK_SECRET, so it does not show in ps.
ENTRYPOINT ["/wxmock", "-listen", "0.0.0.0:9090"]
