"""The typed message of the fuzzed endpoint, shared with the test as its oracle."""

from pydantic import BaseModel


class Order(BaseModel):
    item: str
    quantity: int
    tags: list[str] = []
