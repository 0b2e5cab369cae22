"""Every write that carries a business rule. Plain keyword-only functions named verb_noun
(or noun_verb), each owning its transaction; the API, the admin and the commands call them."""
