"""`python -m casebridge.devstack` -- what `make run` runs."""

from casebridge.devstack.supervisor import main

if __name__ == "__main__":
    main()
