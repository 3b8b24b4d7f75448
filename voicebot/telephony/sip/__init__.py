"""voicebot's own SIP user agent server (RFC 3261 over UDP) and its protocol objects.

Why our own: the maintained Python options are one-author alpha libraries with churning APIs
(aiosipua, aiortp), pyVoIP is GPL and thread-based, and baresip bindings would put a native stack in
our process. SIP and RTP sit on the critical path of every call, so voicebot owns a small, typed,
asyncio implementation. MIT-licensed libraries were read for reference only; no code was copied.

One module per protocol object: ``message`` (parse/serialize), ``sdp`` (offer/answer),
``transaction`` (server and client transactions, timers), ``dialog`` (tags, CSeq, route set),
``auth`` (RFC 7616 digest), ``limits`` (source filter, rate and call limits), ``refer`` (RFC 3515
transfer), ``endpoint`` (the asyncio UAS that ties them together).
"""
