"""The sync protocol between the field app and the server (see PROTOCOL.md next to this file).

Framework-free: the server's views parse the HTTP request, authorise the route and call `push.push`
or `pull.pull` with a database session and the signed-in actor. Modules:

- `cursor`: the commit-ordered change stream's positions, the server epoch.
- `envelope`: the request envelopes and their limits; `fields`: validation of mutation arguments.
- `clients`: the device (= sync client) a request comes from: ownership, revocation, bookkeeping.
- `push`: exactly-once application of a batch; `mutations`, `case_mutations`: what each one does.
- `scope`: which cases each user's phones hold; `stream`: the ordered changes after a cursor;
  `serialize`, `reference`: what a change carries; `pull`: one page of changes.
"""

SCHEMA_VERSION = 1
