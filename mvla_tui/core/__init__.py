"""The operating core (`Session`, the recording session, the policy driver and worker, the sim episode):
no Textual here; the app, `mvla drive`, `sim collect`, `eval` and the tests all drive it."""
