<?php
// Legacy code that fetches its own access_token, kept as it was but for one
// line: WX_API was https://api.weixin.qq.com and is now the wxapi site. It
// still sends the AppSecret to GET cgi-bin/token and caches the token in a
// file until it expires, as WeChat's old PHP samples do; wxapi checks the
// AppID and AppSecret and answers with the deployment's shared token. At
// WeChat, every cgi-bin/token call would have replaced the token that every
// other server was using; through wxapi none does.
require_once __DIR__ . '/subscribe.php';

define('WX_API', wxapi_url()); // was: define('WX_API', 'https://api.weixin.qq.com');

function legacy_access_token(): string
{
    $cache = getenv('WX_TOKEN_CACHE') ?: sys_get_temp_dir() . '/wx_access_token.json';
    $cached = json_decode((string) @file_get_contents($cache), true);
    if (is_array($cached) && $cached['expire_time'] > time()) {
        return $cached['access_token'];
    }
    $answer = json_decode((string) @file_get_contents(WX_API . '/cgi-bin/token?' . http_build_query([
        'grant_type' => 'client_credential',
        'appid'      => getenv('WX_APPID') ?: 'wx0123456789abcdef',
        'secret'     => getenv('WX_SECRET'),
    ])), true);
    if (empty($answer['access_token'])) {
        throw new RuntimeException('cgi-bin/token answered ' . json_encode($answer));
    }
    file_put_contents($cache, json_encode([
        'access_token' => $answer['access_token'],
        'expire_time'  => time() + $answer['expires_in'] - 200,
    ]), LOCK_EX);
    return $answer['access_token'];
}

// The legacy way to send a subscribe message: with the token in the URL.
// wxapi takes it and sends the shared one, which it is.
function legacy_send_subscribe_message(string $openid, string $text): array
{
    return wechat_post(WX_API . '/cgi-bin/message/subscribe/send?access_token=' . urlencode(legacy_access_token()),
        order_shipped_message($openid, $text));
}
