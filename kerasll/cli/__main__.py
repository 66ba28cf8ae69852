from kerasll_launcher import main

main()
