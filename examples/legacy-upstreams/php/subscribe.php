<?php
// Sends a subscribe message (订阅消息) to a user through Caddy's wxapi: the
// path is WeChat's, the host is wxapi's, and there is no access_token and no
// AppSecret anywhere in this backend. WXAPI_URL is the wxapi site (default
// http://127.0.0.1:8094, the example Caddyfile's).

function wxapi_url(): string
{
    return getenv('WXAPI_URL') ?: 'http://127.0.0.1:8094';
}

// The message the example sends: the template's ID from the mini program's
// admin console (订阅消息), and its keywords' values.
function order_shipped_message(string $openid, string $text): array
{
    return [
        'touser'      => $openid,
        'template_id' => getenv('WX_TEMPLATE_ID') ?: 'order-shipped-template',
        'page'        => 'pages/index/index',
        'data'        => ['thing1' => ['value' => $text]],
    ];
}

// Returns WeChat's answer, ['errcode' => 0, 'errmsg' => 'ok', 'msgid' => …].
function send_subscribe_message(string $openid, string $text): array
{
    return wechat_post(wxapi_url() . '/cgi-bin/message/subscribe/send', order_shipped_message($openid, $text));
}

// POSTs $body as JSON and returns WeChat's answer, or throws with it.
function wechat_post(string $url, array $body): array
{
    $context = stream_context_create(['http' => [
        'method'        => 'POST',
        'header'        => "Content-Type: application/json\r\n",
        'content'       => json_encode($body, JSON_UNESCAPED_UNICODE),
        'ignore_errors' => true, // a refusal's body is JSON too
        'timeout'       => 10,
    ]]);
    $answer = json_decode((string) @file_get_contents($url, false, $context), true);
    if (!is_array($answer) || ($answer['errcode'] ?? -1) !== 0) {
        throw new RuntimeException('WeChat answered ' . json_encode($answer));
    }
    return $answer;
}
