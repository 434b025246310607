"""Fake hosted help desks: each module turns a real log into the store and answers its API."""
