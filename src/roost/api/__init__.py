"""The HTTP faces. Nothing outside this package imports FastAPI or Starlette."""
