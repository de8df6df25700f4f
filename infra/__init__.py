"""Infrastructure: the embedded servers, topic and database setup, and the launcher of the stack."""
