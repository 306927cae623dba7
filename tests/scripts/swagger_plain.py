import time
def init():
    time.sleep(0)
def run(data):
    return {"message": "Hello, World!"}
