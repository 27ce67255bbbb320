from ifactory.cli.main import app

app()
