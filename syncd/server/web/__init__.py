"""The library in a browser (issue 13): sign-in, pages, thumbnails and static assets served by
`syncd serve` itself. `web.app.setup_web` adds it to the server; `web.store` is its one
database module, `web.sessions` the pure cookie / CSRF / Origin rules."""
