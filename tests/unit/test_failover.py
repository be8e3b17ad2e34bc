"""digitviz.failover: which new sessions replace one their browser had (the page then says why it restarted)."""
from digitviz.failover import replaced_session


def test_a_reconnect_with_an_unknown_session_id_is_a_replaced_session():
    assert replaced_session("streamlit, xsrf-token, old-id", "new-id") == "old-id"
    assert replaced_session("streamlit,,old-id", "new-id") == "old-id"  # XSRF off: the token's entry is empty


def test_a_first_connection_or_a_resumed_session_is_not():
    assert replaced_session("streamlit, xsrf-token", "new-id") is None  # a first page load sends no session id
    assert replaced_session("streamlit, xsrf-token, same-id", "same-id") is None  # the server still had it
    assert replaced_session("streamlit, xsrf-token, ", "new-id") is None
    assert replaced_session(None, "new-id") is None  # no websocket headers (AppTest)
