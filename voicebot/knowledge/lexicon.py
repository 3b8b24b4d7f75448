"""Domain lexicon: how callers (and speech-to-text) name the region's schemes, and query rewriting.

Callers say "le pass navigo", "la carte imagine air", "tépé up", "l'ordi du lycée", "ma boîte"; the
documents say "passe Navigo", "imagine R", "TP'up", "ordinateur", "entreprise". This module:

- `detect_schemes(text)`: the schemes a text names, tolerant of accents, spacing and speech-to-text
  spellings (a French phonetic key compared with rapidfuzz), plus audience rules (a child of 4 to 11
  is imagine R Junior, a lycéen is imagine R);
- `rewrite(text)`: hesitations removed, familiar words and acronyms expanded with the documents' words;
- `facet(text)`: what the caller asks about (price, conditions, dates, how to apply, contact, duration);
- `family(text)`: a generic word ("le forfait", "une aide pour mon entreprise") that fits several schemes.

The entries were written from the fact sheet (scheme names, acronyms, audiences), not from any
evaluation question.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from rapidfuzz import fuzz

from voicebot.french.text import fold


@dataclass(frozen=True)
class Scheme:
    """A scheme's id (the documents' `scheme`), spoken name, and the names callers use for it."""

    id: str
    name: str
    aliases: tuple[str, ...]


SCHEMES: tuple[Scheme, ...] = (
    Scheme("navigo", "le passe Navigo", ("passe navigo", "pass navigo", "carte navigo", "navigo", "navigo mois",
                                         "passe navigue", "carte navigue", "le navigue",  # Whisper's spelling
                                         "navigo annuel", "navigo liberte", "ticket de metro", "ticket metro",
                                         "ticket de bus", "ticket t plus")),
    Scheme("imagine-r", "le forfait imagine R", ("imagine r", "imagine air", "imagine erre", "imaginer",
                                                "imagine r scolaire", "imagine r etudiant", "carte imagine r")),
    Scheme("imagine-r-junior", "le forfait imagine R Junior", ("imagine r junior", "imagine air junior",
                                                              "imaginer junior", "junior")),
    Scheme("permis-b", "l'aide au permis de conduire", ("aide au permis", "permis de conduire", "permis b",
                                                        "cheque permis", "auto ecole", "auto-ecole",
                                                        "aide permis", "passer le permis", "permis voiture",
                                                        "permis auto", "permis de voiture")),
    Scheme("solidarite-transport", "la tarification Solidarité Transport", (
        "solidarite transport", "solidarite transports", "reduction solidarite", "solidarite gratuite",
        "gratuite des transports", "transports gratuits", "agence solidarite", "reduc solidarite",
        "reduc transport solidarite", "transport solidarite")),
    Scheme("velo", "l'aide à l'achat d'un vélo", ("aide velo", "prime velo", "velo electrique", "velo cargo",
                                                   "vae", "velo a assistance", "velo", "velos", "kit d'electrification",
                                                   "electrifier mon velo", "velo mecanique", "biporteur",
                                                   "triporteur", "electrifier")),
    Scheme("equitables", "EquiTables, le tarif de la cantine au lycée", (
        "equitables", "equi tables", "equitable", "cantine au lycee", "cantine du lycee", "demi pension au lycee",
        "demi-pension au lycee", "repas au lycee", "cantine lycee")),
    Scheme("manuels", "les manuels scolaires au lycée", ("manuels scolaires", "manuel scolaire", "manuels",
                                                        "livres scolaires", "livres du lycee")),
    Scheme("ordinateur-seconde", "l'ordinateur des lycéens de seconde", (
        "ordinateur", "ordi", "ordinateur portable", "ordinateur de la region", "tablette")),
    Scheme("bacheliers-meritants", "l'aide aux bacheliers méritants", (
        "bacheliers meritants", "bachelier meritant", "aide au merite", "aide aux bacheliers", "bacheliers", "prime bachelier", "mention tres bien",
        "aide bachelier")),
    Scheme("bourse-sanitaire-sociale", "la bourse des formations sanitaires et sociales", (
        "bourse sanitaire", "formations sanitaires", "formation sanitaire", "sanitaires et sociales",
        "bourse infirmier", "bourse d'infirmier", "ecole d'infirmiere", "ecole d'infirmier", "aide soignante",
        "aide soignant", "educateur specialise", "bourse fss", "infirmier", "infirmiere")),
    Scheme("amie", "l'aide à la mobilité internationale des étudiants", (
        "amie", "mobilite internationale", "etudier a l'etranger", "erasmus", "stage a l'etranger",
        "partir a l'etranger", "a m i e", "a m i")),
    Scheme("pmup", "PM'up", ("pm'up", "pm up", "pmup", "pe em up", "pe aime up", "pe m up", "p m up", "pem up")),
    Scheme("tpup", "TP'up", ("tp'up", "tp up", "tpup", "tepe up", "te pe up", "t p up", "tepee up", "tp hop")),
    Scheme("innovup", "Innov'up", ("innov'up", "innov up", "innovup", "inov up", "inove up", "innove up",
                                  "innovation up")),
    Scheme("backup", "BACK'up", ("back'up", "back up", "backup", "cheque prevention", "cellule de sauvegarde",
                                 "entreprise en difficulte", "difficultes passageres", "backup reprise",
                                 "back up reprise", "ile-de-france prevention", "conciliation",
                                 "mandat ad hoc", "procedure amiable", "redressement judiciaire",
                                 "procedure collective")),
    Scheme("pret-rebond", "le Prêt Rebond", ("pret rebond", "pret rebonds", "prets rebond")),
    Scheme("fonds-garantie", "le fonds régional de garantie", ("fonds de garantie", "fond de garantie",
                                                               "fonds regional de garantie")),
    Scheme("cheque-numerique", "le chèque numérique", ("cheque numerique", "commerce connecte", "commercant",
                                                       "commercante", "commerce de proximite",
                                                       "cheque num")),
    Scheme("pass-culture", "le Pass Culture", ("pass culture", "passe culture", "pass'culture")),
    Scheme("pass-sport", "le Pass'Sport", ("pass sport", "passe sport", "pass'sport", "passport sport")),
    Scheme("pret-honneur", "le prêt d'honneur", ("pret d'honneur", "pret dhonneur", "prets d'honneur",
                                                 "pret d honneur")),
)
BY_ID = {s.id: s for s in SCHEMES}

# Aliases that are too generic to name a scheme on their own when a more specific one matched.
_WEAK = {"imagine-r-junior": {"junior"}, "velo": {"velo", "velos"},
         "ordinateur-seconde": {"ordinateur", "ordi", "ordinateur portable", "tablette"}, "manuels": {"manuels"},
         "cheque-numerique": {"commercant", "commercante", "commerce de proximite"}}

# Familiar words, acronyms and spoken forms → words the documents use (appended, never replacing).
SYNONYMS: dict[str, str] = {
    "ordi": "ordinateur", "boite": "entreprise", "boîte": "entreprise", "societe": "entreprise",
    "patron": "employeur", "mairie": "commune", "ville": "commune", "bouquins": "manuels", "livres": "manuels",
    "cantine": "repas demi-pension", "gamin": "enfant", "petit": "enfant", "gosse": "enfant", "bebe": "enfant",
    "prime": "aide", "sous": "argent montant", "fric": "argent montant", "thune": "argent montant",
    "vae": "vélo à assistance électrique", "rsa": "RSA revenu de solidarité active",
    "css": "complémentaire santé solidaire", "cmu": "complémentaire santé solidaire", "ass": "ASS demandeurs d'emploi",
    "cej": "contrat d'engagement jeune", "idfm": "Île-de-France Mobilités", "tpe": "TPE très petites entreprises",
    "pme": "PME", "sci": "SCI", "mail": "adresse e-mail", "email": "adresse e-mail", "e-mail": "adresse e-mail",
    "rembourser": "rembourse remboursement", "bosse": "travaille", "taf": "travail", "resilier": "résiliation",
    "perdu": "perdue volée", "perds": "perdue volée", "refaire": "remplacée", "rer": "RER train métro",
    "metro": "métro", "tram": "tram bus", "mutuelle": "complémentaire santé", "erasmus": "étranger mobilité",
    "lycee": "lycée lycéens", "lyceen": "lycée scolaire", "etudiant": "étudiant", "fac": "étudiant supérieur",
    "papiers": "pièces justificatifs", "interets": "taux zéro", "abonnement": "forfait", "interet": "taux zéro", "occasion": "occasion reconditionnés",
    "mensuel": "mois", "annee": "annuel", "an": "annuel",
    "boss": "employeur", "raque": "payer", "raquer": "payer", "moteur": "vélo",
    "creanciers": "dettes difficultés", "dettes": "difficultés", "racheter": "reprise reprend",
    "rachat": "reprise reprend", "reprendre": "reprise reprend", "concurrent": "entreprise",
}
# Everyday words that say nothing about the topic (never a sign that the question is out of scope).
COMMON_WORDS = frozenset("""temps quoi fais fait faire chose truc comment combien quand besoin moment maintenant encore
    toujours aussi vraiment exactement savoir connaitre voudrais voudrait aimerais possible question plus moins bien
    tout tous toute toutes part partie fois jour jours semaine heure heures mois vaut valent coute coutent marche
    prendre passer donne donner obtenir avoir demande demander quelqu'un quelque parce pourquoi juste seulement
    dites dire peut peuvent pouvez doit doivent faut falloir fallait cinquante soixante quarante trente vingt cent
    cents mille deux trois quatre cinq sept huit neuf onze douze treize quatorze quinze seize premier premiere
    derniere dernier annee annees actuellement aujourd'hui demain hier cette celle celui alors bonjour merci
    madame monsieur exemple genre vraiment normalement aller recevoir toucher touche mettre envoyer acheter
    achete payer paye importe n'importe suis sommes etes vais allez rentrer entrer partir venir trouver chercher comprendre
    veux veut voulons voulez veulent vient viens venu venue aura aurai aurait aurais serait serais sera seront
    etait etais avait avais avons avez ont pense pensais crois croyais entendu entends dit dis disait disent
    lu vu vois voit regarde regardent regarder explique expliquer attendre attends accepte acceptee accepter
    refuse refusee normal normale normaux vieux vieille nouveau nouvelle nouveaux bon bonne bons mauvais
    grand grande petit petite gros rien personne autre autres meme memes pareil pareille different differente
    chez bout cote fond milieu debut fin exact exacte exactement certain certaine sur sure vrai vraie faux
    pere mere fils fille frere soeur mari femme copain copine famille parents enfant enfants gamins
    gamin gosses ami amie amis voisin voisine collegue boss chef patronne
    oblige obligee obliger droit raque raquer sous fric thune galere souci soucis probleme problemes
    magasin boutique maison appartement logement quartier rue ville radio tele internet journal
    chomage chomeur chomeuse travail boulot emploi job retraite malade
    dirige diriger gere gerer monte monter lance lancer ouvre ouvrir ferme fermer change changer
    emmenage emmenager demenage demenager installe installer inscrit inscrite
    paraît parait semble sembler racontait raconte raconter""".split())
# Places of Île-de-France a caller says where they live or go ("jusqu'à Marne-la-Vallée", "à Créteil"): the
# region's own geography, never a topic the base lacks. Places elsewhere (Lyon, Bordeaux) stay unknown words,
# and so do the airports (their shuttles are not in the base).
IDF_PLACES = frozenset("""paris parisien parisienne marne vallee seine essonne yvelines oise hauts creteil versailles
    cergy pontoise evry courcouronnes meaux melun nanterre bobigny montreuil argenteuil boulogne billancourt vitry
    aubervilliers colombes noisy denis champigny rueil malmaison aulnay sevran ivry villejuif massy palaiseau saclay
    chelles torcy lagny fontainebleau provins mantes jolie poissy rambouillet etampes corbeil essonnes sarcelles
    gonesse vincennes pantin clichy levallois courbevoie puteaux issy moulineaux antony clamart drancy bondy
    rosny villepinte tremblay juvisy savigny brunoy yerres combs-la-ville senart chessy serris bussy nemours
    montereau coulommiers dammartin""".split())
# Spoken numbers are figures, never topics the base could lack ("dix-huit ans", "quatre-vingt-huit euros").
NUMBER_WORDS = frozenset("""zero un une deux trois quatre cinq six sept huit neuf dix onze douze treize quatorze
    quinze seize vingt vingts trente quarante cinquante soixante cent cents mille million millions milliard""".split())
# Spoken phrasings that carry a meaning the documents write in other words (appended to the query).
PHRASES: tuple[tuple[re.Pattern[str], str], ...] = tuple((re.compile(p), w) for p, w in (
    (r"\b(sans (l'|les )?(aides?|subventions?|reductions?)|vrai (prix|cout)|vraiment|reellement|en vrai)\b",
     "coût réel sans subventions"),
    (r"\b(au total|en tout|tout compris|avec les frais)\b", "compris"),
    (r"\b(choisir|choisit|choix)\b", "choix"),
    (r"\b(revend\w*|revente)\b", "revente revendre"),
    (r"\b(verse[es]?|versee?s?|verser|paye[es]?|payee?s?) (comment|en combien)|comment (elle|il) est (verse|paye)\w*",
     "versement coupons"),
    (r"\b(plusieurs fois|par mois|chaque mois|tous les mois|mensualites?|echelonner)\b", "mensuel prélèvements mensuels"),
    (r"\b(minimum|au minimum|au moins)\b", "au moins"),
    (r"\b(maximum|au maximum|au plus|jusqu'a combien)\b", "plafond plafonnée au plus"),
    (r"(?<!cargo )\bvelos? electriques?\b", "assistance électrique"),
    (r"\b(sans moteur|velos? (?:normal|normaux|classique|simple)s?)\b", "vélo mécanique"),
    (r"\b(rentre|rentrer|entre|entrer) en (seconde|premiere|terminale|sixieme)\b", "rentrée élève"),
    (r"\b(pourcentage|pourcent|pour cent|quel taux)\b", "taux %"),
    (r"\b(perdu|perdue|vole|volee|casse|cassee)\b", "perdue volée remplacée"),
))
# Words of a scheme's alias that add nothing to its name ("carte imagine r", "prime velo").
_GENERIC_NAME_WORDS = frozenset("carte passe pass forfait aide prime reduction agence cheque la le l' de d' du au a "
                                "des les".split())
_HESITATIONS = re.compile(r"\b(euh+|heu+|hum+|bah|ben|hein|bon ben|alors voila|voila|du coup|en fait|genre|"
                          r"oui bonjour|bonjour|allo|s'il vous plait|svp)\b")

# Checked in this order: the specific phrasings first ("combien de temps" is a duration, not a price).
FACETS: dict[str, re.Pattern[str]] = {
    "contact": re.compile(r"\b(numero|telephone|appeler|joindre|contacter|mail|horaires?|ouverte?s?|"
                          r"a quelle heure|adresse (mail|e-mail|pour))\b"),
    "dates": re.compile(r"\b(quand|date|jusqu'a quand|delai|avant le|avant quelle|a partir de quand|limite|"
                        r"combien de (temps|fois|mois|annees)|duree|dure|valable|anciennete)\b"),
    "apply": re.compile(r"\b(demande[rz]?|comment (on )?(fai\w+|obten\w+|demand\w+|charg\w+)|ou (on |je )?"
                        r"(fai\w+|demande|m'adresse)|inscri\w+|faire (mon|le|un) dossier|site|demarches?|souscri\w+|justificatifs?|"
                        r"papiers|pieces|s'adresser|litige|qui (accorde|donne|verse|gere|demande))\b"),
    "conditions": re.compile(r"\b(droit|eligible|conditions?|qui peut|pour qui|pour quel(le)?s? \w+|c'est pour|qui a droit|quel age|age|"
                             r"taille|combien de salaries|cumul\w*|occasion|entreprises? de)\b"),
    "price": re.compile(r"\b(combien|pourcentage|montant|prix|cout\w*|tarif\w*|plafond|maximum|minimum|euros?|pourcent\w*|"
                        r"pourcentage|taux|payer|paye|payant|gratuit\w*|cher|rembourse\w*|reduction|subvention)\b"),
}
# Asked whether the region helps or gives ("la région aide pour le permis ?"): the amount answers it.
_HELP = re.compile(r"\b(aid\w*|donne\w*|verse\w*|prime|touche\w*|subventionne\w*)\b")
# Section headings (folded) of the sample base → facet.
HEADING_FACETS = {
    "prix": "price", "montant": "price", "tarifs": "price", "aide": "price", "forfaits": "price",
    "tickets": "price", "public": "conditions", "conditions": "conditions", "equipement": "conditions",
    "calendrier": "dates", "duree et souscription": "dates", "demarche": "apply", "contact": "contact",
    "resiliation": "apply",
}
# Words of a bullet's label ("Prix annuel : …", "Montant mensuel : …") → facet.
LABEL_FACETS = {"prix": "price", "montant": "price", "plafond": "price", "tarif": "price", "taux": "price",
                "avantage": "price", "pret": "price", "telephone": "contact", "adresse": "contact",
                "demande": "apply", "plateforme": "apply", "justificatif": "apply", "pieces": "apply",
                "chargement": "apply", "litige": "apply", "age": "conditions", "public": "conditions",
                "conditions": "conditions", "bac": "conditions", "bourse": "conditions", "etudes": "conditions",
                "taille": "conditions", "residence": "conditions", "anciennete": "dates", "date limite": "dates",
                "ouverture du depot": "dates", "duree": "dates", "frequence": "dates", "validite": "dates"}
OFFERS = {  # facet answered → facet offered next (at most one offer)
    "price": "conditions", "conditions": "price", "dates": "apply", "apply": "conditions", "contact": "price",
    None: "conditions",
}
OFFER_QUESTION = {"conditions": "Voulez-vous les conditions ?", "price": "Voulez-vous connaître le montant ?",
                  "apply": "Voulez-vous savoir comment faire la demande ?", "dates": "Voulez-vous les dates ?"}

# Generic words that fit several schemes: a question naming only one of these gets a clarifying question.
FAMILIES: dict[str, tuple[re.Pattern[str], tuple[str, ...]]] = {
    "forfait": (re.compile(r"\b(forfait|abonnement|passe? transports?|carte de transport|(les |le |des )transports?)\b"),
                ("navigo", "imagine-r", "imagine-r-junior")),
    "entreprise": (re.compile(r"\b(entreprise|societe|boite|commerce|pme|tpe|start-?up)\b"),
                   ("tpup", "pmup", "innovup", "backup", "cheque-numerique")),
    "bourse": (re.compile(r"\b(bourses?|les etudes|mes etudes|ses etudes)\b"), ("bourse-sanitaire-sociale", "bacheliers-meritants", "amie")),
    # Last: "c'est pour une aide" names no domain at all.
    "aide": (re.compile(r"\b(aides?|renseignements?|informations?)\b"),
             ("navigo", "imagine-r", "velo", "permis-b", "tpup", "bourse-sanitaire-sociale", "pass-culture")),
}
CLARIFY = {
    "forfait": "Parlez-vous du passe Navigo, du forfait imagine R pour les jeunes, ou d'imagine R Junior pour "
               "les enfants ?",
    "entreprise": "Quelle est votre entreprise : une très petite entreprise, une PME, un commerce, un projet "
                  "d'innovation ou une entreprise en difficulté ?",
    "bourse": "S'agit-il d'une formation sanitaire ou sociale, d'un bac avec mention très bien, ou d'un séjour "
              "à l'étranger ?",
    "aide": "Bien sûr. C'est pour les transports, un vélo, le permis, les études, une entreprise, ou le sport et "
            "la culture ?",
}
# Weak cues that resolve a clarification (never used alone to answer a fresh question).
CUES: dict[str, tuple[str, ...]] = {
    "tpup": ("tpe", "tres petite", "petite entreprise", "moins de 10", "trois salaries", "deux salaries",
             "artisan", "micro"),
    "pmup": ("pme", "moyenne entreprise", "cinquante salaries", "cent salaries"),
    "innovup": ("innovation", "innover", "prototype", "recherche"),
    "backup": ("difficulte", "redressement", "sauvegarde"),
    "cheque-numerique": ("commerce", "commercant", "boutique", "site internet"),
    "navigo": ("navigo", "adulte", "travail", "mensuel"),
    "imagine-r": ("lycee", "lyceen", "etudiant", "college", "collegien", "jeune"),
    "imagine-r-junior": ("enfant", "petit", "junior", "primaire", "maternelle"),
    "bourse-sanitaire-sociale": ("sanitaire", "sociale", "infirmier", "infirmiere", "aide soignant"),
    "bacheliers-meritants": ("bac", "mention", "bachelier"),
    "amie": ("etranger", "mobilite", "erasmus"),
}
_CHILD = re.compile(r"\b(enfant|petit|fils|fille|gamin|bebe)s?\b")
_STUDENT = re.compile(r"\b(lycee|lyceen\w*|etudiant\w*|college\w*|fac|apprenti\w*|seconde|terminale)\b")
_AGE = re.compile(r"\b(\d{1,2}|un|deux|trois|quatre|cinq|six|sept|huit|neuf|dix|onze|douze|treize|quatorze|quinze|"
                  r"seize|dix-sept|dix-huit|dix sept|dix huit|dix-neuf|dix neuf|vingt)\s+ans\b")
_AGE_WORDS = {"un": 1, "deux": 2, "trois": 3, "quatre": 4, "cinq": 5, "six": 6, "sept": 7, "huit": 8, "neuf": 9,
              "dix": 10, "onze": 11, "douze": 12, "treize": 13, "quatorze": 14, "quinze": 15, "seize": 16,
              "dix-sept": 17, "dix sept": 17, "dix-huit": 18, "dix huit": 18, "dix-neuf": 19, "dix neuf": 19,
              "vingt": 20}


def normalise(text: str) -> str:
    """Folded words, apostrophes kept, punctuation and hesitations removed."""
    t = fold(text).replace("’", "'")
    t = re.sub(r"[^\w'@.-]+", " ", t)
    t = _HESITATIONS.sub(" ", t)
    return " ".join(t.replace(" - ", " ").split())


@lru_cache(maxsize=4096)
def phonetic(text: str) -> str:
    """A rough French phonetic key: 'tépé up' and 'tp up' and 'imagine air' / 'imagine r' come close."""
    t = fold(text)
    t = re.sub(r"\b([a-z])\b", lambda m: _LETTER_NAMES.get(m.group(1), m.group(1)), t)  # spelled letters
    t = re.sub(r"[^a-z]", "", t)
    for a, b in (("ph", "f"), ("qu", "k"), ("ck", "k"), ("gu", "g"), ("ch", "ch"), ("eau", "o"), ("au", "o"),
                 ("ai", "e"), ("ei", "e"), ("er", "e"), ("ee", "e"), ("ez", "e"), ("y", "i"), ("h", ""),
                 ("c", "k"), ("w", "v")):
        t = t.replace(a, b)
    t = re.sub(r"(.)\1+", r"\1", t)
    return t


_LETTER_NAMES = {"t": "te", "p": "pe", "m": "em", "r": "er", "b": "be", "v": "ve", "s": "es", "c": "se"}


_ELISION = re.compile(r"\b(l|d|j|n|m|s|t|c|qu|jusqu|lorsqu|puisqu)'")


def _unelide(text: str) -> str:
    """An elided article or pronoun as a word of its own ("l'aide" → "l' aide")."""
    return _ELISION.sub(r"\1' ", text)


def _age(text: str) -> int | None:
    m = _AGE.search(text)
    if not m:
        return None
    v = m.group(1)
    return int(v) if v.isdigit() else _AGE_WORDS.get(v)


def detect_schemes(text: str, exact_only: bool = False) -> list[tuple[str, float]]:
    """Schemes named in `text`, best first, with a score in [0, 1] (1 = exact alias)."""
    norm = normalise(text)
    if not norm:
        return []
    words = norm.split()
    spaced = _unelide(norm)  # "l'aide au permis" names "aide au permis"
    found: dict[str, float] = {}
    for scheme in SCHEMES:
        best = 0.0
        for alias in scheme.aliases:
            if re.search(rf"(?<![\w']){re.escape(_unelide(alias))}(?![\w])", spaced):
                exact = 0.95 + 0.05 * min(len(alias), 20) / 20  # the longer (more specific) name wins a tie
                best = max(best, exact if alias not in _WEAK.get(scheme.id, ()) else 0.8)
                continue
            n = len(alias.replace("'", " ").split())
            if exact_only or (n < 2 and len(alias) < 6):
                continue  # short single words only match exactly
            key = phonetic(alias)
            for i in range(len(words)):
                for width in (n, n + 1):
                    if i + width > len(words):
                        continue
                    window = phonetic(" ".join(words[i:i + width]))
                    if abs(len(window) - len(key)) > 2 or len(key) < 4:
                        continue
                    score = fuzz.ratio(window, key) / 100.0
                    if score >= 0.86:
                        best = max(best, 0.9 * score)
        if best:
            found[scheme.id] = best
    if not exact_only:
        _audience(norm, found)
    return sorted(found.items(), key=lambda kv: -kv[1])


_SOCIAL_AID = re.compile(r"\b(rsa|ass|css|cmu|ame|complementaire sante solidaire|allocation de solidarite)\b")
_TRANSPORT_PRICE = re.compile(r"\b(transports?|metro|bus|rer|tram|train|navigo|passe?|forfait|ticket|reduction|reduc|gratuit\w*|tarif\w*)\b")


def _audience(norm: str, found: dict[str, float]) -> None:
    """Imagine R vs imagine R Junior by the traveller's age or school level; social aid → Solidarité Transport."""
    if _SOCIAL_AID.search(norm) and _TRANSPORT_PRICE.search(norm) and "solidarite-transport" not in found:
        found.pop("navigo", None)  # a caller on social aid asking about transport fares: the reduced fares
        found["solidarite-transport"] = 0.95
    age = _age(norm)
    student = bool(_STUDENT.search(norm)) or (age is not None and 12 <= age <= 25)
    # "ma fille passe en seconde" is a lycéenne: a school level says more than the word for a child.
    child = bool(_CHILD.search(norm)) and (age <= 11 if age is not None else not _STUDENT.search(norm))
    transport = bool(re.search(r"\b(transports?|metro|bus|passe?|navigo|forfait|carte|imagine)\b", norm))
    if "imagine-r-junior" in found and "imagine-r" in found:
        if "junior" not in norm and not child:
            found.pop("imagine-r-junior")
        else:
            found.pop("imagine-r")
    if age is not None and age <= 11 and ("imagine-r" in found or (transport and "navigo" not in found)):
        found.pop("imagine-r", None)
        found["imagine-r-junior"] = max(found.get("imagine-r-junior", 0.0), 0.95)
    elif child and transport and "imagine-r" not in found and age is None and "navigo" not in found:
        found["imagine-r-junior"] = max(found.get("imagine-r-junior", 0.0), 0.85)
    elif student and "imagine-r-junior" in found and "junior" not in norm:
        found.pop("imagine-r-junior")
        found["imagine-r"] = 0.95


def best_scheme(text: str, threshold: float = 0.8) -> str | None:
    found = detect_schemes(text)
    return found[0][0] if found and found[0][1] >= threshold else None


def cue_scheme(text: str, among: tuple[str, ...] | None = None) -> str | None:
    """The scheme whose weak cues appear in `text` (used to resolve a clarifying question)."""
    norm = normalise(text)
    hits = [s for s, cues in CUES.items() if (among is None or s in among)
            and any(re.search(rf"\b{re.escape(c)}", norm) for c in cues)]
    return hits[0] if len(hits) == 1 else None


def facet(text: str) -> str | None:
    """What is asked: the scheme's own name says nothing of it ("la réduction solidarité", "l'aide au permis")."""
    norm = normalise(strip_names(text))
    first = next((name for name, pattern in FACETS.items() if pattern.search(norm)), None)
    if (first in (None, "apply", "price") and _CAN.search(norm) and not _HOW_MUCH.search(norm)
            and not re.search(r"\b(comment|ou)\b", norm)):
        return "conditions"  # "je peux avoir l'aide ?", "c'est possible pour moi ?": may I, not how much
    return first or ("price" if _HELP.search(norm) else None)


_CAN = re.compile(r"\b(je peux|j'peux|on peut|il peut|elle peut|peut[- ]il|peut[- ]elle|peut[- ]on|possible pour|"
                  r"c'est pour moi|pour moi|y ai droit|j'ai droit|on a droit|il a droit|elle a droit|eligible|"
                  r"ca passe|ca marche pour|rentre dans|rentrer dans|que pour les)\b")
_HOW_MUCH = re.compile(r"\b(combien|montant|prix|cout\w*|tarif\w*|plafond|taux|pourcentage|euros?)\b")


# Words that name a scheme only beside another one ("permis voiture"): alone, another topic ("une aide pour
# acheter une voiture électrique" is a near miss, not a question about the permis).
_COMPANION_WORDS = frozenset({"voiture", "auto"})


@lru_cache(maxsize=1)
def alias_words() -> frozenset[str]:
    """Every word of every scheme name the lexicon knows ("equi", "tables", "tepe")."""
    return frozenset(w for sc in SCHEMES for a in sc.aliases for w in a.replace("'", " ").replace("-", " ").split()
                     if w not in _COMPANION_WORDS)


def is_question_word(word: str) -> bool:
    """A word that says what is asked (a facet or a help verb), not what it is about."""
    return any(p.fullmatch(word) or p.search(f" {word} ") for p in (*FACETS.values(), _HELP)) or any(
        p.search(word) for p, _ in PHRASES)


def label_facet(sentence: str) -> str | None:
    """Facet of a labelled bullet ("Prix annuel : …" → price), from its label's first words."""
    label = fold(sentence.split(" : ", 1)[0]) if " : " in sentence else ""
    for word, name in LABEL_FACETS.items():
        if label.startswith(word):
            return name
    return None


def heading_facet(heading: str) -> str | None:
    return HEADING_FACETS.get(fold(heading).strip())


def family(text: str) -> str | None:
    """A generic word naming a family of schemes, when nothing more specific is said."""
    norm = normalise(text)
    for name, (pattern, _) in FAMILIES.items():
        if pattern.search(norm):
            return name
    return None


def rewrite(text: str, with_scheme: bool = True, scheme: str | None = None) -> str:
    """The question for retrieval: hesitations out, familiar words and acronyms expanded.

    Also the documents' name of the scheme it names (for retrieval; not for picking a sentence).
    """
    norm = normalise(text)
    extra: list[str] = []
    for w in norm.replace("'", " ").split():
        if w in SYNONYMS:
            extra.append(SYNONYMS[w])
    for scheme_id, _ in (detect_schemes(text)[:1] if with_scheme else []):
        extra.append(BY_ID[scheme_id].name)
    from voicebot.knowledge.figures import extract  # spoken numbers as the documents write them

    for f in extract(text):
        if f.key.startswith("n:") and not any(c.isdigit() for c in f.text):
            extra.append(f.key[2:] + (" %" if f.unit == "%" else " €" if f.unit == "€" else ""))
    for pattern, words in PHRASES:
        if pattern.search(norm):
            extra.append(words)
    body = text.strip() if with_scheme else strip_names(text, scheme)
    return " ".join([body, *extra])


def _name_only(alias: str, scheme: Scheme) -> bool:
    """The alias says nothing but the scheme's name ("carte imagine r", "prime velo"; not "ticket de bus")."""
    name = set(fold(scheme.name).replace("'", " ").split())
    return all(w in name or w in _GENERIC_NAME_WORDS for w in alias.replace("'", " ").split())


def strip_names(text: str, scheme: str | None = None) -> str:
    """The question without the scheme's name: every sentence of the scheme shares it, so it cannot pick one.

    Only the name of `scheme` (default: the scheme the text names best) goes: "le chèque numérique paie un
    ordinateur ?" keeps "ordinateur", the name of another scheme.
    """
    body = _unelide(fold(text))
    found = detect_schemes(text, exact_only=True)
    named = {scheme} if scheme else {found[0][0]} if found else set()
    for scheme_ in SCHEMES:
        if scheme_.id not in named:
            continue
        for alias in sorted(scheme_.aliases, key=len, reverse=True):
            if len(alias) >= 5 and _name_only(alias, scheme_):
                body = re.sub(rf"(?<![\w']){re.escape(_unelide(alias))}(?![\w])", " ", body)
    return " ".join(body.split())
