//! `GET /`'s page.

/// A small page that lists the routes and links to them (relative links, so that it works
/// under any stage or base path).
pub(crate) const INDEX: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>lambda-grace-http example</title>
<style>
  body { font: 16px/1.5 system-ui, sans-serif; margin: 0; background: #f5f6f8; color: #1d2330; }
  header { background: #1d2330; color: #fff; padding: 28px 40px; }
  header h1 { margin: 0 0 4px; font-size: 26px; }
  header p { margin: 0; color: #b8c0d0; }
  main { max-width: 760px; margin: 28px auto; padding: 0 20px; }
  .card { background: #fff; border-radius: 10px; box-shadow: 0 1px 3px rgba(0,0,0,.12); padding: 20px 24px; margin-bottom: 20px; }
  table { width: 100%; border-collapse: collapse; }
  td { padding: 8px 6px; border-bottom: 1px solid #eceef2; vertical-align: top; }
  td:first-child { white-space: nowrap; font-family: ui-monospace, monospace; }
  .m { display: inline-block; min-width: 44px; font-size: 12px; font-weight: 600; color: #fff; background: #2f7d4f; border-radius: 4px; padding: 1px 6px; margin-right: 8px; text-align: center; }
  .post { background: #9a5b13; }
  a { color: #2456c9; text-decoration: none; }
  code { background: #eef0f4; border-radius: 4px; padding: 1px 5px; }
  header code { background: #2c3446; color: #fff; }
</style>
</head>
<body>
<header>
  <h1>lambda-grace-http</h1>
  <p>An axum <code>Router</code> on AWS Lambda, with graceful shutdown hooks</p>
</header>
<main>
  <div class="card">
    <table>
      <tr><td><span class="m">GET</span><a href="hello/world">/hello/{name}</a></td><td>a greeting</td></tr>
      <tr><td><span class="m">GET</span><a href="echo?tag=a&amp;tag=b">/echo</a></td><td>the request as the app saw it: method, path, query, headers, cookies, body</td></tr>
      <tr><td><span class="m post">POST</span>/echo</td><td>the same, with the body (base64 if binary)</td></tr>
      <tr><td><span class="m">GET</span><a href="cookies">/cookies</a></td><td>sets two cookies</td></tr>
      <tr><td><span class="m">GET</span><a href="binary">/binary</a></td><td>a PNG, sent base64 by the function</td></tr>
      <tr><td><span class="m">GET</span><a href="stream">/stream</a></td><td>chunks, streamed in <code>RESPONSE_STREAM</code> mode</td></tr>
      <tr><td><span class="m">GET</span><a href="error">/error</a></td><td>a 500</td></tr>
      <tr><td><span class="m">GET</span><a href="db">/db</a></td><td>PostgreSQL's <code>now()</code> (503 without <code>DATABASE_URL</code>)</td></tr>
    </table>
  </div>
  <div class="card">
    At SIGTERM the runtime runs the shutdown hooks inside the platform's budget: here, one that
    closes the database pool, so PostgreSQL sees each session end cleanly.
  </div>
</main>
</body>
</html>
"#;
