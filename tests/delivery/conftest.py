from __future__ import annotations

SENDER = {"email": "news@shop.example", "name": "Shop News", "address": "1 Market Street, Springfield"}
