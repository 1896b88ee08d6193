"""panther: an async web framework built around real-time WebSockets."""

from panther.main import Panther

__all__ = ['Panther']
__version__ = '0.1.0'
