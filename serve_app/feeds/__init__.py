"""Price feeds: TCGplayer (pricing API), eBay (sold items), CardMarket (price guide).

Each adapter pages through its service, maps the service's identifiers onto catalog printings
and returns what it read as sales or aggregate figures plus the records it could not match;
``serve_app.services.price_ingest`` stores both (unmatched ones in the review queue).
"""
