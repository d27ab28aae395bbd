"""Small word lists the sample databases draw their rows from.

Written for t2s; every name, title and place here is made up or generic. The
lists are tuples so that drawing from them with a seeded ``random.Random`` is
reproducible (a ``set`` would iterate in hash order, which changes per process).
"""

from __future__ import annotations

FIRST_NAMES: tuple[str, ...] = (
    "Ada", "Amir", "Anika", "Bruno", "Carla", "Chen", "Dario", "Dmitri", "Elena", "Emeka",
    "Farah", "Felix", "Greta", "Hana", "Hugo", "Ines", "Ivan", "Jonas", "Julia", "Kai",
    "Kenji", "Lars", "Leila", "Lucas", "Maya", "Mateo", "Mei", "Nadia", "Nico", "Noah",
    "Olga", "Omar", "Paula", "Priya", "Quentin", "Rosa", "Ravi", "Sara", "Sofia", "Tariq",
    "Tessa", "Umar", "Vera", "Viktor", "Wen", "Yara", "Yusuf", "Zoe", "Aiden", "Beatriz",
    "Caleb", "Dalia", "Erik", "Fatima", "Gabriel", "Helga", "Isaac", "Jana", "Kofi", "Lena",
)

LAST_NAMES: tuple[str, ...] = (
    "Abbott", "Alvarez", "Bauer", "Becker", "Castro", "Costa", "Dubois", "Duarte", "Eriksen",
    "Fischer", "Fontaine", "Garcia", "Haddad", "Hansen", "Ibrahim", "Ito", "Jensen", "Kaur",
    "Keller", "Kowalski", "Larsen", "Lopez", "Marino", "Meyer", "Moreau", "Nakamura", "Novak",
    "Okafor", "Olsen", "Park", "Petrov", "Quinn", "Reyes", "Rossi", "Santos", "Schmidt",
    "Silva", "Sorensen", "Tanaka", "Torres", "Usman", "Varga", "Vogel", "Walsh", "Weber",
    "Xu", "Yilmaz", "Young", "Zhang", "Ziegler", "Bianchi", "Cohen", "Dimitrov", "Evans",
)

CITIES: tuple[str, ...] = (
    "Lisbon", "Oslo", "Dublin", "Prague", "Vienna", "Madrid", "Warsaw", "Athens", "Helsinki",
    "Zurich", "Lyon", "Porto", "Krakow", "Seville", "Bergen", "Ghent", "Turin", "Munich",
)

COUNTRIES: tuple[str, ...] = (
    "Portugal", "Norway", "Ireland", "Czechia", "Austria", "Spain", "Poland", "Greece",
    "Finland", "Canada", "Brazil", "Japan", "Nigeria", "Mexico", "Australia", "Kenya",
)

ADJECTIVES: tuple[str, ...] = (
    "Silver", "Velvet", "Electric", "Golden", "Hollow", "Crimson", "Quiet", "Wild", "Neon",
    "Amber", "Lunar", "Rusty", "Paper", "Northern", "Broken", "Bright", "Copper", "Frozen",
    "Midnight", "Scarlet", "Wandering", "Hidden", "Blue", "Iron",
)

NOUNS: tuple[str, ...] = (
    "Fox", "River", "Lantern", "Harbor", "Engine", "Garden", "Comet", "Falcon", "Mirror",
    "Forest", "Signal", "Tide", "Canyon", "Beacon", "Orchard", "Meadow", "Bridge", "Compass",
    "Window", "Ember", "Anchor", "Valley", "Tiger", "Parade",
)

MUSIC_GENRES: tuple[str, ...] = (
    "Rock", "Jazz", "Pop", "Folk", "Electronic", "Hip Hop", "Classical", "Blues",
)

VENUE_KINDS: tuple[str, ...] = ("Hall", "Arena", "Theatre", "Club", "Pavilion", "Stage")

DEPARTMENTS: tuple[tuple[str, str], ...] = (
    # (department name, course-title subject words)
    ("Computer Science", "Algorithms|Databases|Operating Systems|Machine Learning|Networks"),
    ("Mathematics", "Calculus|Linear Algebra|Statistics|Number Theory|Topology"),
    ("Physics", "Mechanics|Optics|Thermodynamics|Quantum Physics|Astrophysics"),
    ("History", "Ancient Rome|Medieval Europe|Modern Asia|World Wars|Trade Routes"),
    ("Biology", "Genetics|Ecology|Microbiology|Botany|Neuroscience"),
    ("Economics", "Microeconomics|Macroeconomics|Game Theory|Public Finance|Econometrics"),
    ("Literature", "Poetry|Drama|The Novel|Creative Writing|Literary Theory"),
    ("Chemistry", "Organic Chemistry|Biochemistry|Materials|Analytical Methods|Polymers"),
)

BUILDINGS: tuple[str, ...] = ("North Hall", "Science Center", "Main Building", "Library Wing", "East Tower")

COURSE_LEVELS: tuple[str, ...] = ("Introduction to", "Topics in", "Advanced", "Seminar in")

SEMESTERS: tuple[str, ...] = ("Fall 2022", "Spring 2023", "Fall 2023", "Spring 2024")

GRADES: tuple[str, ...] = ("A", "B", "C", "D", "F")

PRODUCT_CATALOG: tuple[tuple[str, tuple[str, ...]], ...] = (
    # (category, item nouns); names are "<adjective> <item>"
    ("Electronics", ("Headphones", "Speaker", "Charger", "Keyboard", "Webcam", "Monitor")),
    ("Kitchen", ("Kettle", "Blender", "Skillet", "Teapot", "Cutting Board", "Toaster")),
    ("Garden", ("Hose", "Planter", "Shovel", "Bird Feeder", "Lantern", "Rake")),
    ("Toys", ("Puzzle", "Kite", "Robot", "Building Blocks", "Yo-yo", "Board Game")),
    ("Books", ("Cookbook", "Atlas", "Notebook", "Travel Guide", "Sketchbook", "Novel")),
    ("Sports", ("Yoga Mat", "Football", "Water Bottle", "Racket", "Helmet", "Jump Rope")),
)

PRODUCT_ADJECTIVES: tuple[str, ...] = (
    "Classic", "Compact", "Deluxe", "Eco", "Smart", "Pro", "Mini", "Family", "Travel", "Ultra",
)

ORDER_STATUSES: tuple[str, ...] = ("Delivered", "Shipped", "Pending", "Cancelled")

EMAIL_DOMAINS: tuple[str, ...] = ("mailbox.example", "post.example", "inbox.example")

SPECIALTIES: tuple[str, ...] = (
    "Cardiology", "Dermatology", "Pediatrics", "Neurology", "Orthopedics", "General Practice",
)

INSURANCE_PLANS: tuple[str, ...] = ("Public", "Private Basic", "Private Premium", "Uninsured")

VISIT_REASONS: tuple[str, ...] = (
    "Checkup", "Flu symptoms", "Back pain", "Skin rash", "Headache", "Sports injury",
    "Vaccination", "Follow-up",
)

MEDICATIONS: tuple[str, ...] = (
    "Ibuprofen", "Amoxicillin", "Paracetamol", "Cetirizine", "Omeprazole", "Naproxen",
    "Metformin", "Lisinopril",
)

TEAM_MASCOTS: tuple[str, ...] = (
    "Wolves", "Falcons", "Mariners", "Bears", "Comets", "Lions", "Rangers", "Herons",
    "Titans", "Foxes", "Pilots", "Stags",
)

POSITIONS: tuple[str, ...] = ("Goalkeeper", "Defender", "Midfielder", "Forward")

COACH_ROLES: tuple[str, ...] = ("Head Coach", "Assistant Coach", "Fitness Coach")
