# Caddy with the wxauth plugin, built the standard way: xcaddy in Caddy's
# builder image, the binary copied into Caddy's own image.
#
#   docker build -t caddy-wxauth .
#   docker run --rm -p 80:80 -p 443:443 -e WX_SECRET \
#       -v "$PWD/Caddyfile:/etc/caddy/Caddyfile" caddy-wxauth
#
# Both tags name the Caddy release go.mod builds against (major.minor);
# examples/examples_test.go fails when they drift apart.

FROM caddy:2.11-builder AS builder

# The builder image is golang's, which sets GOTOOLCHAIN=local; let go fetch
# the toolchain go.mod asks for when the image's Go is older.
ENV GOTOOLCHAIN=auto

WORKDIR /src
# Dependencies first: a source edit does not download them again.
COPY go.mod go.sum ./
RUN go mod download
COPY . .

# =./ builds this checkout rather than a published version of the module.
RUN xcaddy build \
        --with github.com/wxauth/caddy-wxauth=./ \
        --output /usr/bin/caddy

FROM caddy:2.11

COPY --from=builder /usr/bin/caddy /usr/bin/caddy
