"""The workstations inside shlyuz: the regional gateway workstation (АРМ РШЭП, ``rshep*``) and the State
Corporation's integrated-system workstation (АРМ ИИС ЦОН, ``con*``). See docs/workstations.md."""
