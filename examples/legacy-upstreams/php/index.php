<?php
// A legacy PHP app behind Caddy + wxauth: no WeChat SDK, no session_key, no
// token parsing. Caddy has verified the user and says who it is in request
// headers, which PHP (FastCGI/CGI) shows as $_SERVER['HTTP_…'].
header('Content-Type: application/json');
echo json_encode([
    'upstream' => 'php',
    'path'     => parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH),
    'openid'   => $_SERVER['HTTP_X_OPENID'] ?? null,
    'unionid'  => $_SERVER['HTTP_X_UNIONID'] ?? null,
    'phone'    => $_SERVER['HTTP_X_PHONE'] ?? null,
]);
