from elu_twins.cli import app

app()
