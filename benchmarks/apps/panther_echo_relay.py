"""Echo and relay on one server, for the side-by-side ``relay-vs-echo`` scenario.

The two endpoints are those of ``panther_echo.py`` and ``panther_relay.py``,
served by one app so the load generator can alternate between them against the
same process.
"""

from panther_echo import Echo
from panther_relay import Relay

from panther import Panther

app = Panther(__name__, configs=__name__, urls={'ws/echo': Echo, 'ws/relay': Relay})
