from serve_app.cli import app

app()
