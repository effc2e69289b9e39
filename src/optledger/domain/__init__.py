"""The consent domain: pure Python, no I/O.

It imports only the standard library and two pure value libraries (email-validator,
phonenumbers). Every other layer depends on it; it depends on none of them.
"""
