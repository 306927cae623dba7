"""The user's score.py: loading it, calling run() (threads, timeouts, batches), and its input and output."""
