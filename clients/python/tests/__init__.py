"""unittest suite of the Python client. From the repository root:

    python3 -m unittest discover -s clients/python/tests -t clients/python
"""
