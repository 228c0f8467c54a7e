"""The phone edge: Twilio's voice webhooks, from admission to the TwiML reply.

In the order a request flows: `admission` (size, IP limit, signature, caller limit; `limits`,
`signature`, `callers`), `forms` (the fast form parser), `views` and `agents` (the blueprints),
`effects` (texts and call backs; `texts`), and `runtime` (rendering steps to TwiML, cached, with the
call state in each URL).
"""
