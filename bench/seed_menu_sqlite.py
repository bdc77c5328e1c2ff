#!/usr/bin/env python3
"""Seeds an SQLite coffee-api database (already migrated) with the menu of
bench/sql/seed_menu.sql: 20 categories and N products, the search term in the
name of products n = 1 (mod 40) and in the description of n = 21 (mod 40),
1-3 categories each, a NULL description for every 10th. Written the way the
application stores rows on SQLite (16-byte UUID blobs, RFC 3339 text times,
lower-cased *_fold copies, which for this ASCII menu equal its Unicode fold).

usage: seed_menu_sqlite.py DB_FILE N TERM
"""
import datetime
import hashlib
import sqlite3
import sys
import uuid

CATEGORIES = ['Espresso', 'Filter Coffee', 'Cold Brew', 'Tea', 'Herbal Tea', 'Hot Chocolate', 'Smoothies',
              'Juices', 'Pastries', 'Cakes', 'Cookies', 'Breakfast', 'Sandwiches', 'Salads', 'Soups', 'Bowls',
              'Vegan', 'Gluten Free', 'Seasonal', 'Merchandise']
ADJECTIVES = ['Classic', 'Double', 'Iced', 'Smoked', 'Spiced', 'Honey', 'Maple', 'Toasted', 'Velvet', 'Wild']
ITEMS = ['Latte', 'Cappuccino', 'Mocha', 'Flat White', 'Americano', 'Croissant', 'Muffin', 'Brownie', 'Scone',
         'Bagel']
WITH = ['oat milk', 'whole milk', 'dark chocolate', 'vanilla', 'cinnamon', 'almonds', 'berries', 'caramel',
        'hazelnuts', 'honey']


def h(key, m):
    """A deterministic pseudo-random integer in [0, m) from a text key."""
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), 'big') % m


def stamp(t):
    return t.isoformat(timespec='microseconds')


def main():
    path, n, term = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    now = datetime.datetime.now(datetime.timezone.utc)
    db = sqlite3.connect(path)
    with db:
        cats = []
        for i, name in enumerate(CATEGORIES, start=1):
            cid = uuid.uuid4().bytes
            description = 'Everything in ' + name.lower() + '.'
            db.execute('INSERT INTO categories (id, name, name_key, description, description_fold, created_at,'
                       ' updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)',
                       (cid, name, name.lower(), description, description.lower(),
                        stamp(now - datetime.timedelta(days=i)), stamp(now)))
            cats.append(cid)
        products, links = [], []
        for g in range(1, n + 1):
            pid = uuid.uuid4().bytes
            name = (term.capitalize() + ' ' if g % 40 == 1 else '') + \
                f'{ADJECTIVES[h(f"adj{g}", 10)]} {ITEMS[h(f"item{g}", 10)]} {g}'
            description = None if g % 10 == 0 else (
                'Made fresh every morning with ' + WITH[h(f'with{g}', 10)]
                + (f' and a {term} crunch' if g % 40 == 21 else '')
                + ". Ask the barista about today's variations.")
            products.append((pid, name, description, 100 + h(f'price{g}', 900), g % 25 != 0,
                             stamp(now - datetime.timedelta(minutes=g)), stamp(now), name.lower(),
                             description.lower() if description else None))
            for c in sorted({h(f'{g}:{i}', 20) for i in range(1, 2 + h(f'k{g}', 3))}):
                links.append((pid, cats[c]))
        db.executemany('INSERT INTO products (id, name, description, price, is_available, created_at, updated_at,'
                       ' name_fold, description_fold) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)', products)
        db.executemany('INSERT INTO product_categories (product_id, category_id) VALUES (?, ?)', links)
    db.execute('ANALYZE')
    db.close()


if __name__ == '__main__':
    main()
