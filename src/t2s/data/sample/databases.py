"""Builders of the sample databases: five domains, 4-5 tables each.

Each builder takes a seeded ``random.Random`` and returns a
:class:`~t2s.data.sample.schema.DatabaseSpec` with its rows, so the same seed
gives the same rows. A few parent rows are deliberately left without children
(a venue with no concerts, a course nobody takes) so that "which X have no Y"
questions have answers.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

from t2s.data.sample import words
from t2s.data.sample.schema import DatabaseSpec, TableSpec, col, pluralize

Rows = list[tuple[Any, ...]]


def _people(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct "First Last" names."""
    flat = rng.sample(range(len(words.FIRST_NAMES) * len(words.LAST_NAMES)), count)
    last = words.LAST_NAMES
    return [f"{words.FIRST_NAMES[i // len(last)]} {last[i % len(last)]}" for i in flat]


def _pairs(rng: random.Random, count: int, first: Sequence[str], second: Sequence[str],
           template: str) -> list[str]:
    """``count`` distinct strings ``template.format(a, b)`` over ``first x second``."""
    flat = rng.sample(range(len(first) * len(second)), count)
    return [template.format(first[i // len(second)], second[i % len(second)]) for i in flat]


def _day(rng: random.Random, start: date, end: date) -> date:
    """A uniformly drawn day in ``[start, end]``."""
    return start + timedelta(days=rng.randrange((end - start).days + 1))


def _active(rng: random.Random, ids: Sequence[int], idle: int) -> list[int]:
    """``ids`` minus ``idle`` of them, which get no child rows."""
    return sorted(rng.sample(list(ids), len(ids) - idle))


def build_concert_hall(rng: random.Random) -> DatabaseSpec:
    """Music venues, artists, their albums and the concerts they played."""
    venue = TableSpec("venue", "venue", "venues", (
        col("venue_id", "INTEGER", "id"),
        col("name", "TEXT", "label"),
        col("city", "TEXT", "category", plural="cities", cond="located in {v}"),
        col("capacity", "INTEGER", "measure", additive=True),
        col("opened_year", "INTEGER", "year", phrase="opening year"),
    ))
    artist = TableSpec("artist", "artist", "artists", (
        col("artist_id", "INTEGER", "id"),
        col("name", "TEXT", "label"),
        col("genre", "TEXT", "category", cond="playing {v}"),
        col("country", "TEXT", "category", plural="countries", cond="from {v}"),
        col("formed_year", "INTEGER", "year", phrase="formation year"),
    ))
    album = TableSpec("album", "album", "albums", (
        col("album_id", "INTEGER", "id"),
        col("title", "TEXT", "label"),
        col("artist_id", "INTEGER", "fk", references=("artist", "artist_id"), via="by"),
        col("release_year", "INTEGER", "year", phrase="release year"),
        col("copies_sold", "INTEGER", "measure", phrase="copies sold",
            plural="copies sold", additive=True),
    ))
    concert = TableSpec("concert", "concert", "concerts", (
        col("concert_id", "INTEGER", "id"),
        col("venue_id", "INTEGER", "fk", references=("venue", "venue_id"), via="held at"),
        col("artist_id", "INTEGER", "fk", references=("artist", "artist_id"),
            via="performed by"),
        col("concert_date", "DATE", "date", phrase="concert date"),
        col("ticket_price", "REAL", "measure", phrase="ticket price"),
        col("tickets_sold", "INTEGER", "measure", phrase="tickets sold",
            plural="tickets sold", additive=True),
    ))

    venues: Rows = []
    for i, name in enumerate(_pairs(rng, 12, words.ADJECTIVES, words.VENUE_KINDS, "{} {}"), 1):
        # Capacities span a club (~300) to an arena (~18,000), mostly small rooms.
        capacity = int(rng.triangular(300, 18000, 1500)) // 50 * 50
        venues.append((i, name, rng.choice(words.CITIES[:8]), capacity, rng.randint(1950, 2018)))
    plural_nouns = [pluralize(n) for n in words.NOUNS]
    bands = _pairs(rng, 18, words.ADJECTIVES, plural_nouns, "The {} {}")
    artists: Rows = []
    for i, name in enumerate(bands + _people(rng, 12), 1):
        artists.append((i, name, rng.choice(words.MUSIC_GENRES), rng.choice(words.COUNTRIES[:10]),
                        rng.randint(1975, 2020)))
    rng.shuffle(artists)
    artists = [(i, *row[1:]) for i, row in enumerate(artists, 1)]
    albums: Rows = []
    for i, title in enumerate(_pairs(rng, 60, words.ADJECTIVES, words.NOUNS, "{} {}"), 1):
        owner = rng.choice(artists)
        albums.append((i, title, owner[0], rng.randint(owner[4], 2023),
                       rng.randrange(5000, 900000, 500)))
    capacity_of = {row[0]: row[3] for row in venues}
    venue_ids = _active(rng, list(capacity_of), idle=2)
    artist_ids = _active(rng, [row[0] for row in artists], idle=5)
    concerts: Rows = []
    for i in range(1, 151):
        venue_id = rng.choice(venue_ids)
        capacity = capacity_of[venue_id]
        concerts.append((i, venue_id, rng.choice(artist_ids),
                         _day(rng, date(2021, 1, 1), date(2023, 12, 31)).isoformat(),
                         rng.randrange(40, 300) * 0.5,  # 20.0 to 149.5 in steps of 0.5
                         rng.randint(int(capacity * 0.4), capacity)))
    concerts.sort(key=lambda row: (row[3], row[0]))
    concerts = [(i, *row[1:]) for i, row in enumerate(concerts, 1)]
    return DatabaseSpec("concert_hall", (venue, artist, album, concert), {
        "venue": venues, "artist": artists, "album": albums, "concert": concerts})


def build_university(rng: random.Random) -> DatabaseSpec:
    """Departments, instructors, courses, students and their enrollments."""
    department = TableSpec("department", "department", "departments", (
        col("dept_id", "INTEGER", "id", phrase="department id"),
        col("name", "TEXT", "label"),
        col("building", "TEXT", "category", cond="housed in {v}"),
        col("budget", "REAL", "measure", additive=True),
    ))
    instructor = TableSpec("instructor", "instructor", "instructors", (
        col("instructor_id", "INTEGER", "id"),
        col("name", "TEXT", "label"),
        col("dept_id", "INTEGER", "fk", phrase="department id",
            references=("department", "dept_id"), via="working in"),
        col("salary", "REAL", "measure", additive=True),
        col("hire_year", "INTEGER", "year", phrase="hiring year"),
    ))
    course = TableSpec("course", "course", "courses", (
        col("course_id", "INTEGER", "id"),
        col("title", "TEXT", "label"),
        col("dept_id", "INTEGER", "fk", phrase="department id",
            references=("department", "dept_id"), via="offered by"),
        col("instructor_id", "INTEGER", "fk", references=("instructor", "instructor_id"),
            via="taught by"),
        col("credits", "INTEGER", "measure", additive=True),
    ))
    student = TableSpec("student", "student", "students", (
        col("student_id", "INTEGER", "id"),
        col("name", "TEXT", "label"),
        col("major_dept_id", "INTEGER", "fk", phrase="major department id",
            references=("department", "dept_id"), rel="major department",
            via="majoring in"),
        col("enrollment_year", "INTEGER", "year", phrase="enrollment year"),
        col("gpa", "REAL", "measure", phrase="gpa"),
        col("home_city", "TEXT", "category", phrase="home city", plural="home cities",
            cond="from {v}"),
    ))
    enrollment = TableSpec("enrollment", "enrollment", "enrollments", (
        col("enrollment_id", "INTEGER", "id"),
        col("student_id", "INTEGER", "fk", references=("student", "student_id"), via="of"),
        col("course_id", "INTEGER", "fk", references=("course", "course_id"), via="in"),
        col("semester", "TEXT", "category", cond="in {v}"),
        col("grade", "TEXT", "category", cond="with grade {v}"),
    ))

    departments: Rows = [
        (i, name, rng.choice(words.BUILDINGS), float(rng.randrange(200_000, 2_000_000, 10_000)))
        for i, (name, _) in enumerate(words.DEPARTMENTS, 1)
    ]
    instructors: Rows = []
    for i, name in enumerate(_people(rng, 30), 1):
        instructors.append((i, name, rng.randint(1, len(departments)),
                            float(rng.randrange(55_000, 160_000, 500)), rng.randint(1990, 2022)))
    staff_of: dict[int, list[int]] = {}
    for row in instructors:
        staff_of.setdefault(row[2], []).append(row[0])
    courses: Rows = []
    for dept_id, (_, subjects) in enumerate(words.DEPARTMENTS, 1):
        for subject in subjects.split("|"):
            # Prefer an instructor of the same department; one may have none.
            teacher = rng.choice(staff_of.get(dept_id) or [r[0] for r in instructors])
            courses.append((len(courses) + 1, f"{rng.choice(words.COURSE_LEVELS)} {subject}",
                            dept_id, teacher, rng.choice((2, 3, 3, 4, 4, 5))))
    students: Rows = []
    for i, name in enumerate(_people(rng, 120), 1):
        students.append((i, name, rng.randint(1, len(departments)), rng.randint(2019, 2023),
                         round(rng.uniform(2.0, 4.0), 2), rng.choice(words.CITIES[:10])))
    course_ids = _active(rng, [row[0] for row in courses], idle=4)
    taken: set[tuple[int, int]] = set()  # membership only: never iterated
    enrollments: Rows = []
    while len(enrollments) < 350:
        pair = (rng.randint(1, len(students)), rng.choice(course_ids))
        if pair in taken:
            continue
        taken.add(pair)
        grade = rng.choices(words.GRADES, weights=(30, 35, 20, 10, 5))[0]
        enrollments.append((len(enrollments) + 1, *pair, rng.choice(words.SEMESTERS), grade))
    return DatabaseSpec("university", (department, instructor, course, student, enrollment), {
        "department": departments, "instructor": instructors, "course": courses,
        "student": students, "enrollment": enrollments})


def build_retail_shop(rng: random.Random) -> DatabaseSpec:
    """Customers, products, orders and the items on each order."""
    customer = TableSpec("customer", "customer", "customers", (
        col("customer_id", "INTEGER", "id"),
        col("name", "TEXT", "label"),
        col("city", "TEXT", "category", plural="cities", cond="from {v}"),
        col("email", "TEXT", "text"),
        col("joined_date", "DATE", "date", phrase="join date"),
        col("is_member", "BOOLEAN", "flag", phrase="is member"),
    ))
    product = TableSpec("product", "product", "products", (
        col("product_id", "INTEGER", "id"),
        col("name", "TEXT", "label"),
        col("category", "TEXT", "category", plural="categories", cond="in the {v} category"),
        col("price", "REAL", "measure"),
        col("stock", "INTEGER", "measure", phrase="units in stock", plural="units in stock",
            additive=True),
    ))
    orders = TableSpec("orders", "order", "orders", (
        col("order_id", "INTEGER", "id"),
        col("customer_id", "INTEGER", "fk", references=("customer", "customer_id"),
            via="placed by"),
        col("order_date", "DATE", "date", phrase="order date"),
        col("status", "TEXT", "category", plural="statuses", cond="with status {v}"),
    ))
    order_item = TableSpec("order_item", "order item", "order items", (
        col("item_id", "INTEGER", "id"),
        col("order_id", "INTEGER", "fk", references=("orders", "order_id"), via="belonging to"),
        col("product_id", "INTEGER", "fk", references=("product", "product_id"), via="for"),
        col("quantity", "INTEGER", "measure", additive=True),
    ), phrase="order item")

    customers: Rows = []
    for i, name in enumerate(_people(rng, 60), 1):
        first, last = name.split(" ")
        email = f"{first}.{last}@{rng.choice(words.EMAIL_DOMAINS)}".lower()
        # About 40% of customers join the loyalty programme.
        customers.append((i, name, rng.choice(words.CITIES[:9]), email,
                          _day(rng, date(2019, 1, 1), date(2023, 6, 30)).isoformat(),
                          int(rng.random() < 0.4)))
    products: Rows = []
    for category, items in words.PRODUCT_CATALOG:
        for name in _pairs(rng, 7, words.PRODUCT_ADJECTIVES, items, "{} {}"):
            # Prices end in .99 like a shop's: 4.99 to 299.99.
            price = rng.randrange(5, 300) - 0.01
            products.append((len(products) + 1, name, category, round(price, 2),
                             rng.randint(0, 250)))
    joined = {row[0]: date.fromisoformat(row[4]) for row in customers}
    customer_ids = _active(rng, list(joined), idle=8)
    order_rows: Rows = []
    for _ in range(200):
        customer_id = rng.choice(customer_ids)
        day = _day(rng, joined[customer_id], date(2024, 6, 30))
        status = rng.choices(words.ORDER_STATUSES, weights=(60, 20, 12, 8))[0]
        order_rows.append((customer_id, day.isoformat(), status))
    order_rows.sort(key=lambda row: (row[1], row[0]))
    order_rows = [(i, *row) for i, row in enumerate(order_rows, 1)]
    product_ids = _active(rng, [row[0] for row in products], idle=4)
    items: Rows = []
    for order in order_rows:
        for product_id in rng.sample(product_ids, rng.choice((1, 1, 2, 2, 3, 4))):
            items.append((len(items) + 1, order[0], product_id, rng.choice((1, 1, 1, 2, 2, 3, 5))))
    return DatabaseSpec("retail_shop", (customer, product, orders, order_item), {
        "customer": customers, "product": products, "orders": order_rows, "order_item": items})


def build_clinic(rng: random.Random) -> DatabaseSpec:
    """Doctors, patients, appointments and the prescriptions written at them."""
    doctor = TableSpec("doctor", "doctor", "doctors", (
        col("doctor_id", "INTEGER", "id"),
        col("name", "TEXT", "label"),
        col("specialty", "TEXT", "category", plural="specialties", cond="specializing in {v}"),
        col("years_experience", "INTEGER", "measure", phrase="years of experience",
            plural="years of experience"),
    ))
    patient = TableSpec("patient", "patient", "patients", (
        col("patient_id", "INTEGER", "id"),
        col("name", "TEXT", "label"),
        col("birth_date", "DATE", "date", phrase="birth date"),
        col("city", "TEXT", "category", plural="cities", cond="living in {v}"),
        col("insurance", "TEXT", "category", phrase="insurance plan"),
    ))
    appointment = TableSpec("appointment", "appointment", "appointments", (
        col("appointment_id", "INTEGER", "id"),
        col("doctor_id", "INTEGER", "fk", references=("doctor", "doctor_id"), via="with"),
        col("patient_id", "INTEGER", "fk", references=("patient", "patient_id"), via="for"),
        col("appointment_date", "DATE", "date", phrase="appointment date"),
        col("reason", "TEXT", "category", cond="for {v}"),
        col("fee", "REAL", "measure", additive=True),
    ))
    prescription = TableSpec("prescription", "prescription", "prescriptions", (
        col("prescription_id", "INTEGER", "id"),
        col("appointment_id", "INTEGER", "fk", references=("appointment", "appointment_id"),
            via="issued at"),
        col("medication", "TEXT", "category", cond="for {v}"),
        col("dosage_mg", "INTEGER", "measure", phrase="dosage in mg", plural="dosages in mg"),
        col("days", "INTEGER", "measure", phrase="number of days", plural="numbers of days"),
    ))

    doctors: Rows = [
        (i, f"Dr. {name}", rng.choice(words.SPECIALTIES), rng.randint(2, 35))
        for i, name in enumerate(_people(rng, 15), 1)
    ]
    patients: Rows = [
        (i, name, _day(rng, date(1940, 1, 1), date(2015, 12, 31)).isoformat(),
         rng.choice(words.CITIES[4:12]), rng.choices(words.INSURANCE_PLANS, (40, 30, 20, 10))[0])
        for i, name in enumerate(_people(rng, 80), 1)
    ]
    doctor_ids = _active(rng, [row[0] for row in doctors], idle=2)
    patient_ids = _active(rng, [row[0] for row in patients], idle=10)
    visits: Rows = []
    for _ in range(250):
        day = _day(rng, date(2023, 1, 1), date(2024, 6, 30)).isoformat()
        # Fees from 40 to 245 in steps of 5, like a clinic's price list.
        visits.append((rng.choice(doctor_ids), rng.choice(patient_ids), day,
                       rng.choice(words.VISIT_REASONS), float(rng.randrange(40, 250, 5))))
    visits.sort(key=lambda row: (row[2], row[0], row[1]))
    appointments = [(i, *row) for i, row in enumerate(visits, 1)]
    written = sorted(rng.sample(range(1, len(appointments) + 1), 150))
    prescriptions: Rows = [
        (i, appointment_id, rng.choice(words.MEDICATIONS),
         rng.choice((50, 100, 200, 250, 400, 500)), rng.randint(3, 30))
        for i, appointment_id in enumerate(written, 1)
    ]
    return DatabaseSpec("clinic", (doctor, patient, appointment, prescription), {
        "doctor": doctors, "patient": patients, "appointment": appointments,
        "prescription": prescriptions})


def build_sports_league(rng: random.Random) -> DatabaseSpec:
    """Teams, their players and coaches, and one season of games."""
    team = TableSpec("team", "team", "teams", (
        col("team_id", "INTEGER", "id"),
        col("name", "TEXT", "label"),
        col("city", "TEXT", "category", plural="cities", cond="based in {v}"),
        col("founded_year", "INTEGER", "year", phrase="founding year"),
        col("stadium_capacity", "INTEGER", "measure", phrase="stadium capacity",
            plural="stadium capacities", additive=True),
    ))
    player = TableSpec("player", "player", "players", (
        col("player_id", "INTEGER", "id"),
        col("name", "TEXT", "label"),
        col("team_id", "INTEGER", "fk", references=("team", "team_id"), via="playing for"),
        col("position", "TEXT", "category", cond="who play in the {v} position"),
        col("age", "INTEGER", "measure", plural="ages"),
        col("salary", "REAL", "measure", additive=True),
        col("nationality", "TEXT", "category", plural="nationalities", cond="from {v}"),
    ))
    coach = TableSpec("coach", "coach", "coaches", (
        col("coach_id", "INTEGER", "id"),
        col("name", "TEXT", "label"),
        col("team_id", "INTEGER", "fk", references=("team", "team_id"), via="working for"),
        col("role", "TEXT", "category", cond="working as {v}"),
        col("start_year", "INTEGER", "year", phrase="start year"),
    ))
    game = TableSpec("game", "game", "games", (
        col("game_id", "INTEGER", "id"),
        col("home_team_id", "INTEGER", "fk", references=("team", "team_id"), rel="home team",
            via="hosted by"),
        col("away_team_id", "INTEGER", "fk", references=("team", "team_id"), rel="away team",
            via="played away by"),
        col("game_date", "DATE", "date", phrase="game date"),
        col("home_score", "INTEGER", "measure", phrase="home score"),
        col("away_score", "INTEGER", "measure", phrase="away score"),
        col("attendance", "INTEGER", "measure", plural="attendances", additive=True),
    ))

    cities = rng.sample(words.CITIES, 9)
    teams: Rows = []
    for i, mascot in enumerate(rng.sample(words.TEAM_MASCOTS, 12), 1):
        city = cities[(i - 1) % len(cities)]  # 12 teams in 9 cities: three cities have two
        teams.append((i, f"{city} {mascot}", city, rng.randint(1880, 1995),
                      rng.randrange(8_000, 60_000, 500)))
    players: Rows = []
    for i, name in enumerate(_people(rng, 180), 1):
        position = rng.choices(words.POSITIONS, weights=(10, 35, 35, 20))[0]
        players.append((i, name, (i - 1) % len(teams) + 1, position, rng.randint(18, 36),
                        float(rng.randrange(30_000, 900_000, 1_000)), rng.choice(words.COUNTRIES)))
    coaches: Rows = []
    for i, name in enumerate(_people(rng, 24), 1):
        # The first 12 are one head coach per team; the rest assist a random team.
        team_id = i if i <= len(teams) else rng.randint(1, len(teams))
        role = words.COACH_ROLES[0] if i <= len(teams) else rng.choice(words.COACH_ROLES[1:])
        coaches.append((i, name, team_id, role, rng.randint(2010, 2023)))
    fixtures = [(h, a) for h in range(1, 13) for a in range(1, 13) if h != a]
    rng.shuffle(fixtures)
    games: Rows = []
    season_start = date(2023, 8, 5)
    for i, (home, away) in enumerate(fixtures, 1):
        capacity = teams[home - 1][4]
        # 132 games, six per weekend: one game day every 7 days.
        day = season_start + timedelta(days=7 * ((i - 1) // 6))
        games.append((i, home, away, day.isoformat(), rng.randint(0, 5), rng.randint(0, 4),
                      rng.randint(capacity // 2, capacity)))
    return DatabaseSpec("sports_league", (team, player, coach, game), {
        "team": teams, "player": players, "coach": coaches, "game": games})


# db_id -> builder, in the order the dataset lists them.
BUILDERS: dict[str, Callable[[random.Random], DatabaseSpec]] = {
    "concert_hall": build_concert_hall,
    "university": build_university,
    "retail_shop": build_retail_shop,
    "clinic": build_clinic,
    "sports_league": build_sports_league,
}
