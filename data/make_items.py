"""Generate the sample evaluation set: everyday quantitative word problems with answers.

Deterministic (seeded), so `python data/make_items.py` rewrites data/items.jsonl byte for
byte. Five thousand items is the reference full run; configs take the first N for pilots.
"""
from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

NAMES = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Farid", "Grace", "Hiro", "Ines", "Jonas", "Kemi", "Luca",
         "Maya", "Noor", "Omar", "Priya", "Quinn", "Rosa", "Sam", "Tariq", "Uma", "Vera", "Wen", "Yusuf"]


def _speed(r: random.Random) -> tuple[str, str, float]:
    name, km, mins = r.choice(NAMES), r.randint(3, 60), r.choice([15, 20, 30, 40, 45, 50, 75, 90])
    q = f"{name} cycles {km} kilometres in {mins} minutes. What is the average speed in kilometres per hour?"
    return "rates", q, round(km / (mins / 60), 3)


def _discount(r: random.Random) -> tuple[str, str, float]:
    price, pct, extra = r.randint(20, 400), r.choice([10, 15, 20, 25, 30]), r.choice([5, 10])
    q = (f"A jacket costs {price} dollars. It is discounted by {pct} percent, and the discounted price is then "
         f"reduced by a further {extra} percent at the till. What does the customer pay, in dollars?")
    return "percentages", q, round(price * (1 - pct / 100) * (1 - extra / 100), 2)


def _interest(r: random.Random) -> tuple[str, str, float]:
    p, rate, years = r.randint(5, 200) * 100, r.choice([2, 2.5, 3, 4, 5]), r.randint(2, 9)
    q = (f"{r.choice(NAMES)} deposits {p} dollars at {rate} percent simple interest per year. How much interest, "
         f"in dollars, has been earned after {years} years? The bank was founded in {r.randint(1850, 1990)}.")
    return "interest", q, round(p * rate / 100 * years, 2)


def _buses(r: random.Random) -> tuple[str, str, float]:
    people, seats = r.randint(60, 900), r.choice([40, 45, 52, 57])
    q = f"A school trip has {people} people and each bus seats {seats}. How many buses are needed?"
    return "counting", q, float(-(-people // seats))


def _pipes(r: random.Random) -> tuple[str, str, float]:
    a, b = r.randint(2, 12), r.randint(3, 15)
    q = (f"One pipe fills a tank in {a} hours and a second pipe fills it in {b} hours. How many hours do both "
         "pipes take together?")
    return "rates", q, round(a * b / (a + b), 3)


def _area(r: random.Random) -> tuple[str, str, float]:
    w, l, tile = r.randint(2, 12), r.randint(3, 15), r.choice([20, 25, 30, 50])
    q = (f"A room is {w} metres wide and {l} metres long. Square tiles of {tile} centimetres per side cover "
         "the floor. How many tiles are needed, assuming no waste?")
    return "geometry", q, float(-(-(w * 100 * l * 100) // (tile * tile)))


def _schedule(r: random.Random) -> tuple[str, str, float]:
    start_h, start_m, dur = r.randint(6, 20), r.choice([0, 10, 15, 30, 45]), r.randint(35, 400)
    q = (f"A train leaves at {start_h:02d}:{start_m:02d} and the journey takes {dur} minutes. How many minutes "
         "after midnight does it arrive? (It may arrive the next day; count past 24:00 if so.)")
    return "time", q, float(start_h * 60 + start_m + dur)


def _average(r: random.Random) -> tuple[str, str, float]:
    n1, m1, n2, m2 = r.randint(10, 40), r.randint(55, 90), r.randint(5, 30), r.randint(40, 95)
    q = (f"Class A has {n1} students with a mean score of {m1}; class B has {n2} students with a mean score of "
         f"{m2}. What is the mean score of all students together?")
    return "averages", q, round((n1 * m1 + n2 * m2) / (n1 + n2), 3)


KINDS = [_speed, _discount, _interest, _buses, _pipes, _area, _schedule, _average]


def make_items(n: int, seed: int = 20261126) -> list[dict]:
    r = random.Random(seed)
    items = []
    for i in range(1, n + 1):
        topic, question, answer = r.choice(KINDS)(r)
        items.append({"id": f"q{i:05d}", "topic": topic, "question": question, "answer": answer})
    return items


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("-n", type=int, default=5000)
    ap.add_argument("--out", type=Path, default=Path(__file__).with_name("items.jsonl"))
    args = ap.parse_args()
    with open(args.out, "w") as fh:
        for item in make_items(args.n):
            fh.write(json.dumps(item) + "\n")
    print(f"wrote {args.n} items to {args.out}")


if __name__ == "__main__":
    main()
