"""run(data) using Flask itself, as a script written for the reference's Flask server may."""

from flask import current_app, jsonify, request


def init():
    pass


def run(data):
    return jsonify(
        data=data,
        header=request.headers.get("X-Asked"),
        path=request.path,
        app=current_app.name,
    )
