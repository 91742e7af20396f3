"""HTTP pieces every port shares: the app factory, errors, auth, schema building blocks."""
