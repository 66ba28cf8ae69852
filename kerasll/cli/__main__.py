from kerasll.cli.main import main

main()
