def init():
    pass


def run(data):
    return {"message": "Hello, World!"}
