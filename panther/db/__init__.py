"""The embedded database: pydantic models stored in SQLite.

```python
from panther.db import Model

class Book(Model):
    title: str

book = await Book.insert_one(title='Dune')
await Book.find_one(id=book.id)
```

See ``panther.db.model`` for the queries, ``panther.db.connection`` for the
``DATABASE`` setting, ``panther.db.models`` for ``BaseUser`` and
``panther.db.connections`` for the shared Redis client.
"""

from panther.db.errors import DatabaseError, DuplicateError
from panther.db.model import Model

__all__ = ['DatabaseError', 'DuplicateError', 'Model']
