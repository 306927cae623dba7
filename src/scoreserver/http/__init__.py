"""The HTTP layer of a worker: the application, its routes and middleware, and the protocol under them."""
