// `pnpm start`: starts the whole system on localhost. Parts land issue by issue; what is
// not built yet says so instead of pretending.
console.log('peerchat start: the relay, web app and virtual clients are not built yet (issues #3, #6, #7).')
console.log('Run the tests with: npx -y pnpm@10 install --frozen-lockfile && npx -y pnpm@10 test')
