from rlnas.cli import main

main()
