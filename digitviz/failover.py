"""A page whose server went away: how a new session knows that it replaces one the browser had.

When a tab's websocket drops, the browser reconnects with the old session's id as the third entry of
`Sec-WebSocket-Protocol` ("streamlit, <XSRF token>, <session id>"). A server that still holds that session
resumes it under the same id. So a new session that arrives with another id is a student whose server
stopped or restarted, or whose replica died and nginx sent the tab to another one (deploy/README.md): their
runs are gone, while the class board, kept in the database, still holds every post.
"""

MOVED_MESSAGE = ("The server this page was on stopped, so it reconnected to one that is running and started "
                 "afresh: your runs are trained again from this browser's memory, and every post on the class "
                 "board is kept.")


def replaced_session(protocols, session_id):
    """The lost session's id when this session replaces one the browser had, else None."""
    entries = [entry.strip() for entry in (protocols or "").split(",")]
    previous = entries[2] if len(entries) > 2 else ""
    return previous if previous and previous != session_id else None
