"""The demo catalog in one place: the digits dataset, four small models trained here, and their claims.

`training` is Django-free (it trains and saves the models); `seed` writes them into the catalog and registers the
dataset through the catalog and evaluation services. `manage.py seed_demo` runs it. Nothing else imports demo.
"""
