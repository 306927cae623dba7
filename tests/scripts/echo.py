def init():
    print("hello from init")


def run(data):
    print("hello from run")
    return data
