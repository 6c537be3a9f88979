"""Development-only stand-ins for the outside world, never part of a production request.

- `localhttp`: a small threaded HTTP server on 127.0.0.1 that the stand-ins below and the tests'
  provider fakes share (external services are faked only as local servers speaking their exact wire
  format);
- `auth4app_simulator` (+ `auth4app_views`, `auth4app_urls`): a fake auth4app;
- `social_simulator` (+ `social_views`, `social_urls`): fake Weibo and WeChat.

config/urls.py mounts the views only with DEBUG on and no real keys (AUTH4APP_SIMULATOR,
WEIBO_SIMULATOR, WECHAT_MP_SIMULATOR in settings), and each view refuses to answer otherwise. The
simulators' plain modules import nothing from Django, so tests and benchmarks run them as their own
processes (`python -m devtools.auth4app_simulator --port N`). No app imports this package.
"""
