<?php
// A legacy PHP app behind Caddy + wxauth: no WeChat SDK, no session_key, no
// token parsing. Caddy has verified the user and says who it is in request
// headers, which PHP (FastCGI/CGI) shows as $_SERVER['HTTP_…'].
header('Content-Type: application/json');
$path   = parse_url($_SERVER['REQUEST_URI'], PHP_URL_PATH);
$openid = $_SERVER['HTTP_X_OPENID'] ?? null;

// POST /notify tells the caller, by subscribe message, that their order
// shipped, through wxapi; /notify-legacy does it as old code did, with an
// access_token of its own fetching.
if ($_SERVER['REQUEST_METHOD'] === 'POST' && ($path === '/notify' || $path === '/notify-legacy')) {
    require_once __DIR__ . '/legacy_token.php';
    try {
        $wechat = $path === '/notify'
            ? send_subscribe_message($openid, 'Order shipped')
            : legacy_send_subscribe_message($openid, 'Order shipped');
        echo json_encode(['upstream' => 'php', 'wechat' => $wechat]);
    } catch (RuntimeException $e) {
        http_response_code(502);
        echo json_encode(['upstream' => 'php', 'error' => $e->getMessage()]);
    }
    exit;
}

echo json_encode([
    'upstream' => 'php',
    'path'     => $path,
    'openid'   => $openid,
    'unionid'  => $_SERVER['HTTP_X_UNIONID'] ?? null,
    'phone'    => $_SERVER['HTTP_X_PHONE'] ?? null,
]);
