"""The HTTP surface: thin routers over the services; errors become problem details here."""
