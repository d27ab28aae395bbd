"""Hand-written templates for each sample database.

The generic templates cover the shapes; these add questions only a person who
knows the domain would ask: revenue as price x tickets, draws in a league,
chains of three or four tables, dates matched by year or month.
"""

from __future__ import annotations

from collections.abc import Iterator

from t2s.data.sample.templates import Context, Draft, TemplateFn, lit, nice_number, template

CONCERT_HALL: list[tuple[str, str, TemplateFn]] = []
UNIVERSITY: list[tuple[str, str, TemplateFn]] = []
RETAIL_SHOP: list[tuple[str, str, TemplateFn]] = []
CLINIC: list[tuple[str, str, TemplateFn]] = []
SPORTS_LEAGUE: list[tuple[str, str, TemplateFn]] = []

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August",
           "September", "October", "November", "December")


def _distinct(ctx: Context, sql: str, k: int = 3) -> list[str]:
    return ctx.sample([r[0] for r in ctx.rows(sql)], k)


# --------------------------------------------------------------- concert_hall

@template("join", CONCERT_HALL)
def artists_in_city(ctx: Context) -> Iterator[Draft]:
    for city in _distinct(ctx, "SELECT DISTINCT city FROM venue ORDER BY city"):
        q = ctx.say(("Which artists have played at venues in {c}?",
                     "List the distinct names of artists who performed in {c}."), c=city)
        yield Draft(q, "SELECT DISTINCT T3.name FROM venue AS T1 JOIN concert AS T2 "
                       "ON T1.venue_id = T2.venue_id JOIN artist AS T3 "
                       f"ON T2.artist_id = T3.artist_id WHERE T1.city = {lit(city)}")


@template("aggregate", CONCERT_HALL)
def concerts_in_year(ctx: Context) -> Iterator[Draft]:
    for year in _distinct(ctx, "SELECT DISTINCT substr(concert_date, 1, 4) FROM concert "
                               "ORDER BY 1"):
        q = ctx.say(("How many concerts took place in {y}?", "Count the concerts held in {y}."),
                    y=year)
        yield Draft(q, f'SELECT COUNT(*) FROM concert WHERE concert_date LIKE "{year}%"')


@template("group", CONCERT_HALL)
def venue_revenue(ctx: Context) -> Iterator[Draft]:
    q = ctx.say(("What is the total ticket revenue of each venue? Show the venue name and "
                 "the revenue.", "For each venue, compute the sum of ticket price times "
                 "tickets sold over its concerts."))
    yield Draft(q, "SELECT T2.name, SUM(T1.ticket_price * T1.tickets_sold) FROM concert AS T1 "
                   "JOIN venue AS T2 ON T1.venue_id = T2.venue_id GROUP BY T1.venue_id")


@template("set", CONCERT_HALL)
def recorded_not_live(ctx: Context) -> Iterator[Draft]:
    q = ctx.say(("Which artists have released albums but never played a concert?",
                 "List the names of artists with at least one album and no concerts."))
    yield Draft(q, "SELECT T1.name FROM artist AS T1 JOIN album AS T2 "
                   "ON T1.artist_id = T2.artist_id EXCEPT SELECT T1.name FROM artist AS T1 "
                   "JOIN concert AS T2 ON T1.artist_id = T2.artist_id")


@template("group", CONCERT_HALL)
def genre_most_concerts(ctx: Context) -> Iterator[Draft]:
    rest = ("FROM concert AS T1 JOIN artist AS T2 ON T1.artist_id = T2.artist_id "
            "GROUP BY T2.genre ORDER BY COUNT(*) DESC")
    q = ctx.say(("Which music genre has the most concerts?",
                 "Which genre do the artists of the largest number of concerts play?"))
    yield Draft(q, f"SELECT T2.genre {rest} LIMIT 1", f"SELECT COUNT(*) {rest} LIMIT 2", 1)


@template("filter", CONCERT_HALL)
def concerts_sold_well(ctx: Context) -> Iterator[Draft]:
    for share in ctx.sample((0.8, 0.9, 0.95), 2):
        q = ctx.say(("On which dates did concerts sell more than {p}% of their venue's capacity?",
                     "List the dates of concerts whose tickets sold exceed {p} percent of the "
                     "venue capacity."), p=int(share * 100))
        yield Draft(q, "SELECT T1.concert_date FROM concert AS T1 JOIN venue AS T2 "
                       f"ON T1.venue_id = T2.venue_id WHERE T1.tickets_sold > T2.capacity * {share}")


# ----------------------------------------------------------------- university

@template("join", UNIVERSITY)
def students_in_course(ctx: Context) -> Iterator[Draft]:
    for title in _distinct(ctx, "SELECT DISTINCT T1.title FROM course AS T1 JOIN enrollment AS T2 "
                                "ON T1.course_id = T2.course_id ORDER BY 1"):
        q = ctx.say(('Which students are enrolled in "{t}"?',
                     "Give the names of the students taking the course {t}."), t=title)
        yield Draft(q, "SELECT T1.name FROM student AS T1 JOIN enrollment AS T2 "
                       "ON T1.student_id = T2.student_id JOIN course AS T3 "
                       f"ON T2.course_id = T3.course_id WHERE T3.title = {lit(title)}")


@template("group", UNIVERSITY)
def gpa_by_major(ctx: Context) -> Iterator[Draft]:
    q = ctx.say(("What is the average GPA of the students in each major department?",
                 "For each department, show its name and the mean GPA of students majoring in it."))
    yield Draft(q, "SELECT T2.name, AVG(T1.gpa) FROM student AS T1 JOIN department AS T2 "
                   "ON T1.major_dept_id = T2.dept_id GROUP BY T1.major_dept_id")


@template("aggregate", UNIVERSITY)
def credits_of_student(ctx: Context) -> Iterator[Draft]:
    for name in _distinct(ctx, "SELECT DISTINCT T1.name FROM student AS T1 JOIN enrollment AS T2 "
                               "ON T1.student_id = T2.student_id ORDER BY 1"):
        q = ctx.say(("How many credits has {n} enrolled for in total?",
                     "What is the total number of credits of the courses taken by {n}?"), n=name)
        yield Draft(q, "SELECT SUM(T3.credits) FROM student AS T1 JOIN enrollment AS T2 "
                       "ON T1.student_id = T2.student_id JOIN course AS T3 "
                       f"ON T2.course_id = T3.course_id WHERE T1.name = {lit(name)}")


@template("nested", UNIVERSITY)
def students_never_failing(ctx: Context) -> Iterator[Draft]:
    q = ctx.say(("Which students have never received a D or an F?",
                 "List the names of students with no grade of D or F in any enrollment."))
    yield Draft(q, "SELECT name FROM student WHERE student_id NOT IN "
                   '(SELECT student_id FROM enrollment WHERE grade = "D" OR grade = "F")')


@template("order", UNIVERSITY)
def best_paid_in_department(ctx: Context) -> Iterator[Draft]:
    for dept in _distinct(ctx, "SELECT DISTINCT T2.name FROM instructor AS T1 JOIN department "
                               "AS T2 ON T1.dept_id = T2.dept_id ORDER BY 1"):
        rest = ("FROM instructor AS T1 JOIN department AS T2 ON T1.dept_id = T2.dept_id "
                f"WHERE T2.name = {lit(dept)} ORDER BY T1.salary DESC")
        q = ctx.say(("Who is the best-paid instructor in the {d} department?",
                     "Which instructor of {d} has the highest salary?"), d=dept)
        yield Draft(q, f"SELECT T1.name {rest} LIMIT 1", f"SELECT T1.salary {rest} LIMIT 2", 1)


# ---------------------------------------------------------------- retail_shop

@template("filter", RETAIL_SHOP)
def members(ctx: Context) -> Iterator[Draft]:
    for city in _distinct(ctx, "SELECT DISTINCT city FROM customer ORDER BY 1", 2):
        member = ctx.rng.random() < 0.5
        q = ctx.say(("Which customers from {c} are {m}members of the loyalty programme?",
                     "List the names of {m}member customers living in {c}."),
                    c=city, m="" if member else "not ")
        if not member:
            q = q.replace("not member", "non-member")
        yield Draft(q, f"SELECT name FROM customer WHERE city = {lit(city)} "
                       f"AND is_member = {int(member)}")


@template("join", RETAIL_SHOP)
def customers_of_category(ctx: Context) -> Iterator[Draft]:
    for category in _distinct(ctx, "SELECT DISTINCT category FROM product ORDER BY 1"):
        q = ctx.say(("Which customers have ordered products in the {c} category?",
                     "List the distinct names of customers who bought {c} products."), c=category)
        yield Draft(q, "SELECT DISTINCT T1.name FROM customer AS T1 JOIN orders AS T2 "
                       "ON T1.customer_id = T2.customer_id JOIN order_item AS T3 "
                       "ON T2.order_id = T3.order_id JOIN product AS T4 "
                       f"ON T3.product_id = T4.product_id WHERE T4.category = {lit(category)}")


@template("join", RETAIL_SHOP)
def products_of_customer(ctx: Context) -> Iterator[Draft]:
    for name in _distinct(ctx, "SELECT DISTINCT T1.name FROM customer AS T1 JOIN orders AS T2 "
                               "ON T1.customer_id = T2.customer_id ORDER BY 1"):
        q = ctx.say(("Which products has {n} ordered?",
                     "List the distinct names of the products in orders placed by {n}."), n=name)
        yield Draft(q, "SELECT DISTINCT T4.name FROM customer AS T1 JOIN orders AS T2 "
                       "ON T1.customer_id = T2.customer_id JOIN order_item AS T3 "
                       "ON T2.order_id = T3.order_id JOIN product AS T4 "
                       f"ON T3.product_id = T4.product_id WHERE T1.name = {lit(name)}")


@template("join", RETAIL_SHOP)
def products_in_order(ctx: Context) -> Iterator[Draft]:
    for order_id in ctx.sample([r[0] for r in ctx.rows("SELECT order_id FROM orders")]):
        q = ctx.say(("Which products are in order {n}? Give their names and quantities.",
                     "List the name and quantity of every product on order number {n}."),
                    n=order_id)
        yield Draft(q, "SELECT T2.name, T1.quantity FROM order_item AS T1 JOIN product AS T2 "
                       f"ON T1.product_id = T2.product_id WHERE T1.order_id = {order_id}")


@template("aggregate", RETAIL_SHOP)
def order_value(ctx: Context) -> Iterator[Draft]:
    for order_id in ctx.sample([r[0] for r in ctx.rows("SELECT order_id FROM orders")]):
        q = ctx.say(("What is the total value of order {n}?",
                     "How much is order number {n} worth, summing price times quantity?"),
                    n=order_id)
        yield Draft(q, "SELECT SUM(T1.quantity * T2.price) FROM order_item AS T1 JOIN product "
                       f"AS T2 ON T1.product_id = T2.product_id WHERE T1.order_id = {order_id}")


@template("aggregate", RETAIL_SHOP)
def orders_in_month(ctx: Context) -> Iterator[Draft]:
    for month in _distinct(ctx, "SELECT DISTINCT substr(order_date, 1, 7) FROM orders ORDER BY 1"):
        year, number = month.split("-")
        q = ctx.say(("How many orders were placed in {m} {y}?",
                     "Count the orders made during {m} {y}."), m=_MONTHS[int(number) - 1], y=year)
        yield Draft(q, f'SELECT COUNT(*) FROM orders WHERE order_date LIKE "{month}%"')


@template("order", RETAIL_SHOP)
def best_sellers(ctx: Context) -> Iterator[Draft]:
    k = ctx.rng.choice((3, 5))
    rest = ("FROM order_item AS T1 JOIN product AS T2 ON T1.product_id = T2.product_id "
            "GROUP BY T1.product_id ORDER BY SUM(T1.quantity) DESC")
    q = ctx.say(("What are the {k} best-selling products by total quantity ordered?",
                 "List the names of the top {k} products by units sold."), k=k)
    yield Draft(q, f"SELECT T2.name {rest} LIMIT {k}", f"SELECT SUM(T1.quantity) {rest} LIMIT {k + 1}",
                k)


# --------------------------------------------------------------------- clinic

@template("join", CLINIC)
def doctors_of_city(ctx: Context) -> Iterator[Draft]:
    for city in _distinct(ctx, "SELECT DISTINCT city FROM patient ORDER BY 1"):
        q = ctx.say(("Which doctors have seen patients living in {c}?",
                     "List the distinct names of doctors with appointments for patients from {c}."),
                    c=city)
        yield Draft(q, "SELECT DISTINCT T1.name FROM doctor AS T1 JOIN appointment AS T2 "
                       "ON T1.doctor_id = T2.doctor_id JOIN patient AS T3 "
                       f"ON T2.patient_id = T3.patient_id WHERE T3.city = {lit(city)}")


@template("aggregate", CLINIC)
def fees_of_patient(ctx: Context) -> Iterator[Draft]:
    for name in _distinct(ctx, "SELECT DISTINCT T1.name FROM patient AS T1 JOIN appointment AS T2 "
                               "ON T1.patient_id = T2.patient_id ORDER BY 1"):
        q = ctx.say(("How much has {n} paid in appointment fees in total?",
                     "What is the sum of the fees of all appointments of {n}?"), n=name)
        yield Draft(q, "SELECT SUM(T2.fee) FROM patient AS T1 JOIN appointment AS T2 "
                       f"ON T1.patient_id = T2.patient_id WHERE T1.name = {lit(name)}")


@template("join", CLINIC)
def medications_of_doctor(ctx: Context) -> Iterator[Draft]:
    for name in _distinct(ctx, "SELECT DISTINCT T3.name FROM prescription AS T1 JOIN appointment "
                               "AS T2 ON T1.appointment_id = T2.appointment_id JOIN doctor AS T3 "
                               "ON T2.doctor_id = T3.doctor_id ORDER BY 1"):
        q = ctx.say(("Which medications has {n} prescribed?",
                     "List the different medications prescribed at appointments with {n}."),
                    n=name)
        yield Draft(q, "SELECT DISTINCT T1.medication FROM prescription AS T1 JOIN appointment "
                       "AS T2 ON T1.appointment_id = T2.appointment_id JOIN doctor AS T3 "
                       f"ON T2.doctor_id = T3.doctor_id WHERE T3.name = {lit(name)}")


@template("aggregate", CLINIC)
def patients_born_before(ctx: Context) -> Iterator[Draft]:
    for year in ctx.sample((1950, 1960, 1970, 1980, 1990, 2000)):
        q = ctx.say(("How many patients were born before {y}?",
                     "Count the patients with a birth date earlier than {y}."), y=year)
        yield Draft(q, f'SELECT COUNT(*) FROM patient WHERE birth_date < "{year}-01-01"')


@template("group", CLINIC)
def fee_by_specialty(ctx: Context) -> Iterator[Draft]:
    q = ctx.say(("What is the average appointment fee for each doctor specialty?",
                 "For each specialty, show the mean fee of appointments with its doctors."))
    yield Draft(q, "SELECT T2.specialty, AVG(T1.fee) FROM appointment AS T1 JOIN doctor AS T2 "
                   "ON T1.doctor_id = T2.doctor_id GROUP BY T2.specialty")


# -------------------------------------------------------------- sports_league

@template("join", SPORTS_LEAGUE)
def home_wins(ctx: Context) -> Iterator[Draft]:
    q = ctx.say(("List the date and home team name of every game the home team won.",
                 "For games where the home side scored more than the visitors, show the game "
                 "date and the home team's name."))
    yield Draft(q, "SELECT T1.game_date, T2.name FROM game AS T1 JOIN team AS T2 "
                   "ON T1.home_team_id = T2.team_id WHERE T1.home_score > T1.away_score")


@template("aggregate", SPORTS_LEAGUE)
def draws(ctx: Context) -> Iterator[Draft]:
    q = ctx.say(("How many games ended in a draw?",
                 "Count the games in which both teams scored the same number of goals."))
    yield Draft(q, "SELECT COUNT(*) FROM game WHERE home_score = away_score")


@template("join", SPORTS_LEAGUE)
def head_coach(ctx: Context) -> Iterator[Draft]:
    for team in _distinct(ctx, "SELECT name FROM team ORDER BY 1"):
        q = ctx.say(("Who is the head coach of the {t}?", "Give the name of the {t}' head coach."),
                    t=team)
        yield Draft(q, "SELECT T1.name FROM coach AS T1 JOIN team AS T2 ON T1.team_id = T2.team_id "
                       f'WHERE T2.name = {lit(team)} AND T1.role = "Head Coach"')


@template("group", SPORTS_LEAGUE)
def payroll(ctx: Context) -> Iterator[Draft]:
    q = ctx.say(("What is the total salary of each team's players? Show the team name and "
                 "the total.", "For each team, list its name and its players' combined salary."))
    yield Draft(q, "SELECT T2.name, SUM(T1.salary) FROM player AS T1 JOIN team AS T2 "
                   "ON T1.team_id = T2.team_id GROUP BY T1.team_id")


@template("group", SPORTS_LEAGUE)
def home_goals(ctx: Context) -> Iterator[Draft]:
    totals = sorted(r[0] for r in ctx.rows("SELECT SUM(home_score) FROM game GROUP BY home_team_id"))
    n = int(nice_number(totals[len(totals) // 2], integer=True))
    q = ctx.say(("Which teams scored more than {n} goals in total in their home games?",
                 "List the names of teams whose home goals add up to more than {n}."), n=n)
    yield Draft(q, "SELECT T2.name FROM game AS T1 JOIN team AS T2 ON T1.home_team_id = T2.team_id "
                   f"GROUP BY T1.home_team_id HAVING SUM(T1.home_score) > {n}")


@template("join", SPORTS_LEAGUE)
def fixture(ctx: Context) -> Iterator[Draft]:
    pairs = ctx.rows("SELECT T2.name, T3.name FROM game AS T1 JOIN team AS T2 "
                     "ON T1.home_team_id = T2.team_id JOIN team AS T3 "
                     "ON T1.away_team_id = T3.team_id ORDER BY T1.game_id")
    for home, away in ctx.sample(pairs):
        q = ctx.say(("On what date did the {h} host the {a}?",
                     "When was the game with the {h} at home and the {a} as visitors?"),
                    h=home, a=away)
        yield Draft(q, "SELECT T1.game_date FROM game AS T1 JOIN team AS T2 "
                       "ON T1.home_team_id = T2.team_id JOIN team AS T3 "
                       f"ON T1.away_team_id = T3.team_id WHERE T2.name = {lit(home)} "
                       f"AND T3.name = {lit(away)}")


# db_id -> its hand-written templates.
DOMAIN: dict[str, list[tuple[str, str, TemplateFn]]] = {
    "concert_hall": CONCERT_HALL,
    "university": UNIVERSITY,
    "retail_shop": RETAIL_SHOP,
    "clinic": CLINIC,
    "sports_league": SPORTS_LEAGUE,
}
