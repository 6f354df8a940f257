{# Before a server-side cursor is declared: plan it for reading every row, not the first 10%
   (the default), so the planner does not pick a fast-start plan for a full read. #}
SET LOCAL cursor_tuple_fraction = 1.0
